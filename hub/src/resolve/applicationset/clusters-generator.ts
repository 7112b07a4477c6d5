// The clusters generator (argo-cd applicationset/generators/cluster.go) over the hub's registered
// clusters, each seen as Argo CD sees a cluster Secret: its labels plus
// `argocd.argoproj.io/secret-type: cluster`, its annotations, name, server and project.

import { type Cluster, IN_CLUSTER_NAME, IN_CLUSTER_SERVER } from "../cluster.js";
import { type GeneratorContext, GeneratorError, wrapError } from "./generator-context.js";
import { compareGoStrings, type GoMap, putKey, tagGoType } from "./go-value.js";
import { compileLabelSelector } from "./label-selector.js";
import { normalizeName } from "./normalize-name.js";
import type { ParamSet } from "./param-set.js";
import { replaceTemplate } from "./render-template.js";

export const SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type";

function trimServer(server: string): string {
  return server.replace(/\/+$/, "");
}

/** The generator's `values`: a map of strings, rendered against each param set. */
export function readValues(spec: Record<string, unknown>): Record<string, string> {
  const values = spec.values ?? {};
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw new GeneratorError("values must be a map of strings", "invalid");
  }
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== "string") throw new GeneratorError(`values.${key} must be a string`, "invalid");
  }
  return values as Record<string, string>;
}

/**
 * appendTemplatedValues: each value is rendered against the params as they are before any value
 * is added, then added as `values.<key>` (fasttemplate) or under a `values` map[string]string (goTemplate).
 */
export function appendValues(
  params: ParamSet,
  values: Record<string, string>,
  context: GeneratorContext,
): void {
  const rendered: [string, string][] = [];
  for (const [key, template] of Object.entries(values)) {
    try {
      rendered.push([key, replaceTemplate(template, params, context.engine)]);
    } catch (error) {
      throw wrapError(`failed to replace templated string in values.${key}`, error);
    }
  }
  if (rendered.length === 0) return;
  if (context.engine.goTemplate) {
    const map: GoMap = tagGoType({}, "map[string]string");
    for (const [key, value] of rendered) putKey(map, key, value);
    putKey(params, "values", map);
  } else {
    for (const [key, value] of rendered) putKey(params, `values.${key}`, value);
  }
}

function buildClusterParams(cluster: Cluster, labels: Record<string, string>, goTemplate: boolean): ParamSet {
  const params: ParamSet = {
    name: cluster.name,
    nameNormalized: normalizeName(cluster.name),
    server: cluster.server,
    project: cluster.project ?? "",
  };
  const annotations = cluster.annotations ?? {};
  if (goTemplate) {
    const metadata: GoMap = {};
    if (Object.keys(annotations).length > 0)
      metadata.annotations = tagGoType({ ...annotations }, "map[string]string");
    if (Object.keys(labels).length > 0) metadata.labels = tagGoType({ ...labels }, "map[string]string");
    params.metadata = metadata;
  } else {
    for (const [key, value] of Object.entries(annotations))
      putKey(params, `metadata.annotations.${key}`, value);
    for (const [key, value] of Object.entries(labels)) putKey(params, `metadata.labels.${key}`, value);
  }
  return params;
}

/**
 * One param set per matching cluster, ordered by cluster name (Argo CD's order is a Go map's,
 * i.e. random), one per name. The local cluster (`in-cluster`, https://kubernetes.default.svc)
 * comes last, and only when the selector is empty, no registered cluster is that cluster (by
 * server or by name) and the context asks for it (addImplicitInCluster). `flatList: true` gives one param set `{clusters: [...]}`.
 */
export function generateClusterParams(spec: Record<string, unknown>, context: GeneratorContext): ParamSet[] {
  const goTemplate = context.engine.goTemplate;
  const selector = (spec.selector ?? {}) as { matchLabels?: unknown; matchExpressions?: unknown };
  if (typeof selector !== "object" || Array.isArray(selector))
    throw new GeneratorError("selector must be an object", "invalid");
  const matchLabels = (selector.matchLabels ?? {}) as Record<string, unknown>;
  const matchExpressions = (selector.matchExpressions ?? []) as unknown[];
  const ignoreLocal =
    Object.keys(matchLabels).length > 0 || (Array.isArray(matchExpressions) && matchExpressions.length > 0);
  let matches: (labels: Record<string, string>) => boolean;
  try {
    matches = compileLabelSelector(
      { matchLabels: { ...matchLabels, [SECRET_TYPE_LABEL]: "cluster" }, matchExpressions },
      { validateValues: true },
    );
  } catch (error) {
    throw new GeneratorError(`error converting label selector: ${(error as Error).message}`, "invalid");
  }
  const values = readValues(spec);
  const sorted = [...context.clusters].sort(
    (a, b) => compareGoStrings(a.name, b.name) || compareGoStrings(a.server, b.server),
  );
  const seen = new Set<string>();
  const result: ParamSet[] = [];
  for (const cluster of sorted) {
    const labels = { ...cluster.labels, [SECRET_TYPE_LABEL]: "cluster" };
    if (seen.has(cluster.name) || !matches(labels)) continue;
    seen.add(cluster.name);
    const params = buildClusterParams(cluster, labels, goTemplate);
    appendValues(params, values, context);
    result.push(params);
  }
  const localRegistered = context.clusters.some(
    (cluster) => trimServer(cluster.server) === IN_CLUSTER_SERVER || cluster.name === IN_CLUSTER_NAME,
  );
  if (context.addImplicitInCluster && !ignoreLocal && !localRegistered) {
    const params: ParamSet = {
      name: IN_CLUSTER_NAME,
      nameNormalized: IN_CLUSTER_NAME,
      server: IN_CLUSTER_SERVER,
      project: "",
    };
    appendValues(params, values, context);
    result.push(params);
  }
  return spec.flatList === true ? [{ clusters: result }] : result;
}
