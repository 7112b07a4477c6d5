import type { ResourceInfo } from "./kube-client.js";

/**
 * What one discovery document tells: resources it lists and group versions whose resource lists
 * still have to be fetched (only legacy, non-aggregated discovery leaves any).
 */
export type DiscoveryDocument = { resources: ResourceInfo[]; groupVersions: string[] };

/** Accept header asking for aggregated discovery (Kubernetes ≥ 1.26) with plain JSON as fallback. */
export const discoveryAccept = [
  "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
  "application/json",
].join(",");

/**
 * Reads the answer of `/api`, `/apis` (aggregated `APIGroupDiscoveryList`, or legacy `APIVersions`
 * / `APIGroupList`) or `/api/v1`, `/apis/<group>/<version>` (`APIResourceList`). Subresources
 * (`pods/log`) are skipped; anything unrecognised reads as empty.
 */
export function readDiscovery(body: unknown): DiscoveryDocument {
  const doc = asRecord(body);
  switch (doc.kind) {
    case "APIGroupDiscoveryList":
      return { resources: readAggregated(doc), groupVersions: [] };
    case "APIVersions":
      return { resources: [], groupVersions: strings(doc.versions) };
    case "APIGroupList":
      return {
        resources: [],
        groupVersions: records(doc.groups).flatMap((g) =>
          records(g.versions).flatMap((v) => strings([v.groupVersion])),
        ),
      };
    case "APIResourceList":
      return { resources: readResourceList(doc), groupVersions: [] };
    default:
      return { resources: [], groupVersions: [] };
  }
}

function readAggregated(doc: Record<string, unknown>): ResourceInfo[] {
  return records(doc.items).flatMap((item) => {
    const group =
      typeof asRecord(item.metadata).name === "string" ? (asRecord(item.metadata).name as string) : "";
    return records(item.versions).flatMap((v) => {
      const version = typeof v.version === "string" ? v.version : "";
      return records(v.resources).flatMap((r) => {
        const kind = asRecord(r.responseKind).kind;
        if (typeof r.resource !== "string" || typeof kind !== "string" || !version) return [];
        return [{ group, version, kind, plural: r.resource, namespaced: r.scope === "Namespaced" }];
      });
    });
  });
}

function readResourceList(doc: Record<string, unknown>): ResourceInfo[] {
  if (typeof doc.groupVersion !== "string") return [];
  const slash = doc.groupVersion.indexOf("/");
  const group = slash < 0 ? "" : doc.groupVersion.slice(0, slash);
  const version = doc.groupVersion.slice(slash + 1);
  return records(doc.resources).flatMap((r) => {
    if (typeof r.name !== "string" || typeof r.kind !== "string" || r.name.includes("/")) return [];
    return [{ group, version, kind: r.kind, plural: r.name, namespaced: r.namespaced === true }];
  });
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.map(asRecord) : [];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}
