/**
 * The demo's fleet repository: an app-of-apps root (`apps/`, the hub's source path) declaring
 * three ApplicationSets over the registered clusters, each with another kind of source:
 *
 * - `web`: plain YAML in `workloads/web/` (Deployment, Service, ConfigMap), only on clusters
 *   labelled `env=prod`;
 * - `guestbook`: Kustomize, a base and one overlay per `env` label, on every cluster;
 * - `hello`: a Helm chart in `charts/hello/` with a values file per `env` label, on every cluster.
 *
 * Every generated app syncs automatically with prune and self-heal. The images are never pulled
 * (kwok plays the kubelet), so any name does.
 */
import { stringify } from "yaml";

/** The hub's source path: the app-of-apps root. */
export const SAMPLE_FLEET_PATH = "apps";

/** The sample repository's files, path to content, for its first commit. */
export type FleetFiles = Record<string, string>;

const WEB_V1 = { image: "nginx:1.27", version: "v1" };
const WEB_V2 = { image: "nginx:1.28", version: "v2" };

/** Every file of the sample fleet, with child apps pointing at `repoUrl` (the repository itself). */
export function composeSampleFleet(repoUrl: string): FleetFiles {
  return {
    "README.md": README,
    "apps/web.yaml": applicationSet({
      name: "web",
      repoUrl,
      selector: { env: "prod" },
      source: { path: "workloads/web" },
    }),
    "apps/guestbook.yaml": applicationSet({
      name: "guestbook",
      repoUrl,
      source: { path: "kustomize/guestbook/overlays/{{metadata.labels.env}}" },
    }),
    "apps/hello.yaml": applicationSet({
      name: "hello",
      repoUrl,
      source: {
        path: "charts/hello",
        helm: { releaseName: "hello", valueFiles: ["values-{{metadata.labels.env}}.yaml"] },
      },
    }),
    ...composeWebFiles(WEB_V1),
    ...composeGuestbookFiles(),
    ...composeHelloChart(),
  };
}

/** The files the "roll web v2 to prod" commit changes: a new image and `version: v2`. */
export function composeWebV2(): FleetFiles {
  return composeWebFiles(WEB_V2);
}

/** The commit message of the web v2 change. */
export const WEB_V2_MESSAGE = "web: roll v2 to prod (nginx:1.28)";

const README = `# Flotilla demo fleet

The hub reads \`apps/\`: three ApplicationSets over the clusters it knows.

| app       | clusters   | source                                                 |
| --------- | ---------- | ------------------------------------------------------ |
| web       | env=prod   | plain YAML, workloads/web                              |
| guestbook | all        | Kustomize, kustomize/guestbook/overlays/<env>          |
| hello     | all        | Helm, charts/hello with values-<env>.yaml              |
`;

function applicationSet(args: {
  name: string;
  repoUrl: string;
  selector?: Record<string, string>;
  source: { path: string; helm?: Record<string, unknown> };
}): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "ApplicationSet",
    metadata: { name: args.name, namespace: "argocd" },
    spec: {
      generators: [{ clusters: args.selector ? { selector: { matchLabels: args.selector } } : {} }],
      template: {
        metadata: { name: `${args.name}-{{name}}`, labels: { "app.kubernetes.io/part-of": "demo" } },
        spec: {
          project: "default",
          source: { repoURL: args.repoUrl, targetRevision: "HEAD", ...args.source },
          destination: { name: "{{name}}", namespace: args.name },
          syncPolicy: {
            automated: { prune: true, selfHeal: true },
            syncOptions: ["CreateNamespace=true"],
          },
        },
      },
    },
  });
}

function yamlDocuments(...objects: object[]): string {
  return objects.map((object) => stringify(object)).join("---\n");
}

function deployment(name: string, replicas: number, image: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image, ports: [{ containerPort: 80 }], ...extra }] },
      },
    },
  };
}

function service(name: string) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, labels: { app: name } },
    spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 80 }] },
  };
}

function composeWebFiles(release: { image: string; version: string }): FleetFiles {
  return {
    "workloads/web/deployment.yaml": yamlDocuments(
      deployment("web", 2, release.image, { envFrom: [{ configMapRef: { name: "web-config" } }] }),
    ),
    "workloads/web/service.yaml": yamlDocuments(service("web")),
    "workloads/web/configmap.yaml": yamlDocuments({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "web-config" },
      data: { version: release.version, greeting: "Hello from the Flotilla demo" },
    }),
  };
}

function composeGuestbookFiles(): FleetFiles {
  const overlay = (env: string, replicas: number) =>
    stringify({
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: ["../../base"],
      labels: [{ pairs: { env }, includeSelectors: false }],
      replicas: [{ name: "guestbook", count: replicas }],
    });
  return {
    "kustomize/guestbook/base/kustomization.yaml": stringify({
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: ["deployment.yaml", "service.yaml"],
    }),
    "kustomize/guestbook/base/deployment.yaml": yamlDocuments(
      deployment("guestbook", 1, "gcr.io/heptio-images/ks-guestbook-demo:0.2"),
    ),
    "kustomize/guestbook/base/service.yaml": yamlDocuments(service("guestbook")),
    "kustomize/guestbook/overlays/prod/kustomization.yaml": overlay("prod", 3),
    "kustomize/guestbook/overlays/staging/kustomization.yaml": overlay("staging", 1),
  };
}

function composeHelloChart(): FleetFiles {
  return {
    "charts/hello/Chart.yaml": stringify({
      apiVersion: "v2",
      name: "hello",
      description: "A small chart for the Flotilla demo",
      version: "0.1.0",
      appVersion: "1.0.0",
    }),
    "charts/hello/values.yaml": stringify({
      replicaCount: 1,
      image: "nginx:1.27",
      message: "hello",
    }),
    "charts/hello/values-prod.yaml": stringify({ replicaCount: 2, message: "hello from prod" }),
    "charts/hello/values-staging.yaml": stringify({ replicaCount: 1, message: "hello from staging" }),
    "charts/hello/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: hello
          image: {{ .Values.image | quote }}
          env:
            - name: MESSAGE
              value: {{ .Values.message | quote }}
          ports:
            - containerPort: 80
`,
    "charts/hello/templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: 80
`,
  };
}
