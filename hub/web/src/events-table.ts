/** The audit trail of a cluster or an app (ListEvents, newest first) as a table. */
import type { EventJson } from "./api-types.js";
import { el, listTable } from "./elements.js";
import { formatTime, shortRevision } from "./format.js";
import { appHash, clusterHash } from "./router.js";
import { kebabOf } from "./status-names.js";

export function eventsTable(events: EventJson[], caption: string): HTMLElement {
  if (events.length === 0) return el("p", { class: "empty" }, "No events recorded yet.");
  return listTable(
    { class: "list events-table" },
    ["Time", "Kind", "Cluster", "App", "Revision", "Message", "By"],
    events.map((event) => {
      const kind = kebabOf(event.kind, "EVENT_KIND_");
      const type = typeof event.details?.type === "string" ? event.details.type : "";
      return el(
        "tr",
        { "data-kind": kind },
        el("td", { class: "nowrap" }, formatTime(event.at)),
        el(
          "td",
          { class: "nowrap" },
          el("span", { class: `kind kind-${kind}` }, kind === "unspecified" ? type : kind),
        ),
        el("td", {}, event.cluster ? el("a", { href: clusterHash(event.cluster) }, event.cluster) : ""),
        el("td", {}, event.app ? el("a", { href: appHash(event.app) }, event.app) : ""),
        el("td", { class: "mono", title: event.revision }, shortRevision(event.revision)),
        el("td", { class: "message" }, event.message),
        el("td", {}, event.actor),
      );
    }),
    el("caption", { class: "visually-hidden" }, caption),
  );
}
