// A synthetic fleet repository laid out like gitops-bridge add-ons, for the `resolve` benchmark
// and the tests that compare an incremental resolve with a cold one: `apps/app-NNNN/` directory
// apps of three objects each, and per app an ApplicationSet in `appsets/` whose clusters
// generator sends it to every cluster labelled env=staging or env=prod.
import type { Cluster } from "./cluster.js";

/** The fleet's files: per app an ApplicationSet and a directory of three manifests. */
export function syntheticFleetFiles(apps: number, repoURL: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < apps; i++) Object.assign(files, syntheticAppFiles(syntheticAppName(i), repoURL));
  return files;
}

/** One app's files: its ApplicationSet and its directory. */
export function syntheticAppFiles(name: string, repoURL: string): Record<string, string> {
  return {
    [`appsets/${name}.yaml`]: syntheticApplicationSet(name, repoURL),
    [`apps/${name}/deployment.yaml`]: deployment(name),
    [`apps/${name}/service.yaml`]: service(name),
    [`apps/${name}/configmap.yaml`]: syntheticConfigMap(name, "initial"),
  };
}

/** `app-NNNN`. */
export function syntheticAppName(index: number): string {
  return `app-${String(index).padStart(4, "0")}`;
}

/** `cluster-NNNN`, every tenth env=staging, the others env=prod, in eight regions. */
export function syntheticClusters(count: number): Cluster[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `cluster-${String(i).padStart(4, "0")}`,
    server: `https://cluster-${i}.fleet.example.com:6443`,
    labels: { env: i % 10 === 0 ? "staging" : "prod", region: `region-${i % 8}` },
  }));
}

/** One ApplicationSet per app, sending it to every matching cluster; `namespace` defaults to the app's name. */
export function syntheticApplicationSet(name: string, repoURL: string, namespace = name): string {
  return `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: ${name}
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - clusters:
        selector:
          matchExpressions:
            - key: env
              operator: In
              values: [staging, prod]
  template:
    metadata:
      name: '${name}-{{.name}}'
      labels:
        env: '{{index .metadata.labels "env"}}'
    spec:
      project: default
      source:
        repoURL: ${repoURL}
        targetRevision: HEAD
        path: apps/${name}
      destination:
        server: '{{.server}}'
        namespace: ${namespace}
      syncPolicy:
        automated:
          prune: true
        syncOptions:
          - CreateNamespace=true
`;
}

/** An app's ConfigMap; a new `mode` is a one-file change of new content. */
export function syntheticConfigMap(name: string, mode: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-config
data:
  mode: ${mode}
  LOG_LEVEL: info
`;
}

function deployment(name: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app.kubernetes.io/name: ${name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: ${name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${name}
    spec:
      containers:
        - name: app
          image: registry.example.com/${name}:1.0.0
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
`;
}

function service(name: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app.kubernetes.io/name: ${name}
  ports:
    - port: 80
      targetPort: 8080
`;
}
