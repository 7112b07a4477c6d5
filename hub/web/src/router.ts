/**
 * Pages by `location.hash`, so every view is a link: `#/` (the grid, filters in the query:
 * `#/?selector=env%3Dprod&health=Degraded`), `#/clusters/NAME`, `#/apps/NAME` (optionally
 * `?cluster=C` to pick whose resources are shown), `#/rollouts` (every rollout).
 */

export type Route =
  | { view: "grid"; params: URLSearchParams }
  | { view: "cluster"; name: string; params: URLSearchParams }
  | { view: "app"; name: string; params: URLSearchParams }
  | { view: "rollouts"; params: URLSearchParams };

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, "");
  const at = text.indexOf("?");
  const path = at < 0 ? text : text.slice(0, at);
  const params = new URLSearchParams(at < 0 ? "" : text.slice(at + 1));
  const segments = path.split("/").filter((segment) => segment !== "");
  const name = segments[1] === undefined ? "" : safeDecode(segments[1]);
  if (segments[0] === "clusters" && name !== "") return { view: "cluster", name, params };
  if (segments[0] === "apps" && name !== "") return { view: "app", name, params };
  if (segments[0] === "rollouts") return { view: "rollouts", params };
  return { view: "grid", params };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `#/?a=b` from non-empty values. */
export function gridHash(params: Record<string, string | boolean | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === "" || value === false) continue;
    query.set(name, value === true ? "1" : value);
  }
  const text = query.toString();
  return text === "" ? "#/" : `#/?${text}`;
}

export function clusterHash(name: string): string {
  return `#/clusters/${encodeURIComponent(name)}`;
}

export function appHash(name: string, cluster?: string): string {
  return `#/apps/${encodeURIComponent(name)}${cluster ? `?cluster=${encodeURIComponent(cluster)}` : ""}`;
}

export function rolloutsHash(): string {
  return "#/rollouts";
}
