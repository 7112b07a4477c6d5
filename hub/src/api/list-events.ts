/**
 * ListEvents over the store's audit trail (newest first). The store filters by cluster, app,
 * one type and `since`; kinds that cover several types, `until` and a viewer's cluster scope are
 * filtered here, reading at most MAX_ROUNDS store pages per call (a page may then come back
 * short, with a next_page_token to go on).
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EventKind,
  type EventSchema,
  type ListEventsRequest,
  type ListEventsResponseSchema,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import type { Labels } from "../fleet/label-selector.js";
import type { Cluster, HubEvent, Store } from "../store/store.js";
import { createPageToken, pageSizeOf, readPageToken } from "./page-token.js";

const MAX_ROUNDS = 10;
const FILTERED_ROUND_SIZE = 1_000;

/** The hub's event type strings by kind; a type not listed here is EVENT_KIND_UNSPECIFIED. */
export const EVENT_TYPES: Readonly<Partial<Record<EventKind, readonly string[]>>> = {
  [EventKind.CLUSTER_REGISTERED]: ["cluster-registered", "cluster-rejoined"],
  [EventKind.CLUSTER_CONNECTED]: ["cluster-connected"],
  [EventKind.CLUSTER_DISCONNECTED]: ["cluster-disconnected"],
  [EventKind.CLUSTER_REMOVED]: ["cluster-removed"],
  [EventKind.CLUSTER_LABELED]: ["cluster-labeled"],
  [EventKind.DESIRED_CHANGED]: ["desired-changed", "desired-removed"],
  [EventKind.DELIVERED]: ["delivered"],
  [EventKind.DELIVERY_REJECTED]: ["delivery-problem"],
  [EventKind.SYNC_REQUESTED]: ["sync-requested"],
  [EventKind.OPERATION_FINISHED]: ["operation-finished"],
  [EventKind.SYNC_STATUS_CHANGED]: ["sync-status-changed"],
  [EventKind.HEALTH_CHANGED]: ["health-changed"],
  [EventKind.PROBLEM_RAISED]: ["problem-raised"],
  [EventKind.PROBLEM_RESOLVED]: ["problem-resolved"],
  [EventKind.ROLLOUT]: ["rollout"],
};

const KIND_BY_TYPE = new Map<string, EventKind>(
  Object.entries(EVENT_TYPES).flatMap(([kind, types]) => (types ?? []).map((type) => [type, Number(kind)])),
);

export function eventKindOf(type: string): EventKind {
  return KIND_BY_TYPE.get(type) ?? EventKind.UNSPECIFIED;
}

export type EventsInput = {
  store: Store;
  /** Whether the caller may see a cluster, by its labels. */
  scope: (labels: Labels) => boolean;
  /**
   * The caller is limited to some clusters: events about no one cluster (which can name any
   * cluster in their message) and about removed clusters are left out.
   */
  limited: boolean;
};

/** Answers ListEvents; NOT_FOUND for a cluster filter naming an unknown (or invisible) cluster. */
export async function listEvents(
  input: EventsInput,
  request: ListEventsRequest,
): Promise<MessageInitShape<typeof ListEventsResponseSchema>> {
  const { store, scope, limited } = input;
  const clusters = await store.clusters.list();
  const byId = new Map(clusters.map((cluster) => [cluster.id, cluster]));
  let clusterId: string | undefined;
  if (request.cluster) {
    const cluster = clusters.find((candidate) => candidate.name === request.cluster);
    if (!cluster || !scope(cluster.labels)) {
      throw new GrpcError("NOT_FOUND", `cluster "${request.cluster}" does not exist`);
    }
    clusterId = cluster.id;
  }
  const kinds = new Set(request.kinds);
  const types = [...kinds].flatMap((kind) => EVENT_TYPES[kind] ?? []);
  // UNSPECIFIED stands for every unknown type, which the store cannot filter on.
  const storeType = types.length === 1 && !kinds.has(EventKind.UNSPECIFIED) ? types[0] : undefined;
  const since = request.since ? timestampDate(request.since) : undefined;
  const until = request.until ? timestampDate(request.until) : undefined;
  const filters = {
    cluster: request.cluster,
    app: request.app,
    kinds: [...kinds].sort((a, b) => a - b),
    since: since?.toISOString() ?? "",
    until: until?.toISOString() ?? "",
  };
  const position = readPageToken<{ b: number }>("ListEvents", filters, request.pageToken);
  const pageSize = pageSizeOf(request.pageSize);
  const filtering = (kinds.size > 0 && storeType === undefined) || until !== undefined || limited;

  const accept = (event: HubEvent) => {
    if (kinds.size > 0 && !kinds.has(eventKindOf(event.type))) return false;
    if (until && event.at.getTime() >= until.getTime()) return false;
    if (limited) {
      const cluster = event.clusterId === null ? undefined : byId.get(event.clusterId);
      if (!cluster || !scope(cluster.labels)) return false;
    }
    return true;
  };

  const accepted: HubEvent[] = [];
  let cursor = position?.b;
  let more = true;
  for (let round = 0; round < MAX_ROUNDS && more && accepted.length < pageSize; round++) {
    const page = await store.events.list({
      ...(clusterId !== undefined ? { clusterId } : {}),
      ...(request.app ? { app: request.app } : {}),
      ...(storeType !== undefined ? { type: storeType } : {}),
      ...(since ? { since } : {}),
      ...(cursor !== undefined ? { before: cursor } : {}),
      limit: filtering ? FILTERED_ROUND_SIZE : pageSize - accepted.length,
    });
    more = page.next !== undefined;
    for (const [at, event] of page.events.entries()) {
      cursor = event.id;
      if (!accept(event)) continue;
      accepted.push(event);
      if (accepted.length === pageSize) {
        if (at < page.events.length - 1) more = true;
        break;
      }
    }
  }
  return {
    events: accepted.map((event) => toEventMessage(event, byId)),
    nextPageToken: more && cursor !== undefined ? createPageToken("ListEvents", filters, { b: cursor }) : "",
  };
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** An event as the API shows it; a removed cluster is named by the name recorded in its data. */
export function toEventMessage(
  event: HubEvent,
  clusters: ReadonlyMap<string, Cluster>,
): MessageInitShape<typeof EventSchema> {
  const data = event.data ?? {};
  const kind = eventKindOf(event.type);
  const cluster =
    event.clusterId === null
      ? ""
      : (clusters.get(event.clusterId)?.name ?? (text(data.cluster) || event.clusterId));
  return {
    id: String(event.id),
    at: timestampFromDate(event.at),
    kind,
    cluster,
    app: event.app ?? "",
    revision: text(data.revision),
    digest: text(data.digest),
    message: event.message,
    actor: text(data.actor),
    // A type without a kind would be anonymous otherwise.
    details: (kind === EventKind.UNSPECIFIED ? { type: event.type, ...data } : data) as JsonObject,
  };
}
