// Who may do what through the FleetService and the HTTP API. Two roles, as the issue asks:
//   admin   everything: clusters, tokens, sources, sync and refresh, every read.
//   viewer  reads only; optionally limited to clusters whose labels match a selector.
// Verbs: "read" (status, apps, events, clusters), "write" (sync, refresh, labels, sources),
// "admin" (tokens, credentials, removing clusters, anything about who may do what).

import {
  formatLabelSelector,
  type LabelSelector,
  type Labels,
  matchesSelector,
} from "../fleet/label-selector.js";

export type Role = "admin" | "viewer";

export type Principal = {
  /** The API token's name, for messages and the audit trail. */
  name: string;
  role: Role;
  /** For a viewer: only clusters matching this selector are visible. Ignored for admin. */
  selector?: LabelSelector;
};

export type Verb = "read" | "write" | "admin";

export type Action = {
  verb: Verb;
  /** The cluster acted on; absent for hub-wide actions and for lists (see clusterScope). */
  cluster?: { labels: Labels };
};

export type Decision = { ok: true } | { ok: false; reason: string };

/**
 * Decides whether `principal` may perform `action`. A read without a cluster is allowed to a
 * limited viewer: the caller must narrow what it returns with clusterScope(principal), so a
 * list shows only the clusters the viewer may see. The reason names the token and what is missing.
 */
export function authorize(principal: Principal, action: Action): Decision {
  if (principal.role === "admin") return { ok: true };
  if (action.verb !== "read") {
    return {
      ok: false,
      reason: `token "${principal.name}" is a viewer and may only read, not ${action.verb}`,
    };
  }
  if (action.cluster && principal.selector && !matchesSelector(principal.selector, action.cluster.labels)) {
    return {
      ok: false,
      reason: `token "${principal.name}" may only read clusters matching "${formatLabelSelector(principal.selector)}"`,
    };
  }
  return { ok: true };
}

/** The clusters `principal` may see, as a predicate over cluster labels (every cluster for admins and unlimited viewers). */
export function clusterScope(principal: Principal): (labels: Labels) => boolean {
  const { selector } = principal;
  if (principal.role === "admin" || !selector) return () => true;
  return (labels) => matchesSelector(selector, labels);
}
