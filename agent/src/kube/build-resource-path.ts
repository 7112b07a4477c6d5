import type { ResourceInfo } from "./kube-client.js";

/**
 * The API path of a collection (no `name`) or of one object, for example
 * `/apis/apps/v1/namespaces/web/deployments/api`. The namespace is left out for cluster-scoped
 * resources and, for collections, when undefined or "" (all namespaces).
 */
export function buildResourcePath(resource: ResourceInfo, namespace?: string, name?: string): string {
  const groupVersion = resource.group
    ? `/apis/${resource.group}/${resource.version}`
    : `/api/${resource.version}`;
  const scope = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const item = name === undefined ? "" : `/${encodeURIComponent(name)}`;
  return `${groupVersion}${scope}/${resource.plural}${item}`;
}

/** `?a=1&b=2` from the defined entries, or "" when there are none. */
export function buildQuery(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : "";
}
