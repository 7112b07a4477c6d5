// What `npm run demo` shows until the full demo lands (issue #6): for each cluster started by
// `testenv run`, its API server, Kubernetes version and namespaces, after server-side applying
// a `flotilla-demo` Namespace to prove the cluster accepts writes.
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  VersionApi,
} from "@kubernetes/client-node";

const kubeconfigs = (process.env.FLOTILLA_KUBECONFIGS ?? "").split(":").filter(Boolean);
if (kubeconfigs.length === 0) {
  process.stderr.write(
    "show-clusters: FLOTILLA_KUBECONFIGS is empty; run it through `pnpm -s testenv run`\n",
  );
  process.exit(2);
}

const rows: string[][] = [["CLUSTER", "SERVER", "VERSION", "NAMESPACES"]];
for (const [index, path] of kubeconfigs.entries()) {
  const config = new KubeConfig();
  config.loadFromFile(path);
  const core = config.makeApiClient(CoreV1Api);
  const namespace = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "flotilla-demo", labels: { demo: "true" } },
  };
  await KubernetesObjectApi.makeApiClient(config).patch(
    namespace,
    undefined,
    undefined,
    "flotilla",
    true,
    PatchStrategy.ServerSideApply,
  );
  const version = await config.makeApiClient(VersionApi).getCode();
  const namespaces = await core.listNamespace();
  rows.push([
    `cluster-${index + 1}`,
    config.getCurrentCluster()?.server ?? "?",
    version.gitVersion,
    namespaces.items.map((n) => n.metadata?.name).join(","),
  ]);
}
const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
for (const row of rows)
  process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}\n`);
process.stdout.write(
  "\nThese are real kube-apiservers; the hub, agents and a sample fleet join them in issue #6.\n",
);
