import { setTimeout as sleep } from "node:timers/promises";
import { toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EventKind,
  EventSchema,
  type Event as FleetEvent,
  type ListEventsRequest,
} from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import { readDurationMs } from "./cluster-commands.js";
import { type CliIo, type Command, UsageError } from "./command.js";
import {
  type Cell,
  type Colour,
  columnWidths,
  formatTable,
  formatTimestamp,
  oneLine,
  useColour,
} from "./format-table.js";
import {
  collectPages,
  describeHubError,
  type FleetConnection,
  noPositionals,
  parseHubArgs,
  withFleetClient,
} from "./hub-context.js";
import { readOutput } from "./render-command.js";

/** Events shown without --limit: the newest this many. */
export const DEFAULT_EVENT_LIMIT = 100;
/** How often `--follow` asks the hub for new events; FLOTILLA_EVENTS_POLL_MS overrides it. */
export const EVENTS_POLL_MS = 2_000;
/** The hub's largest page. */
const MAX_PAGE_SIZE = 1_000;

/** Each kind's name on the command line and in tables: the enum's name, lowercase and dashed (`desired-changed`). */
export const EVENT_KIND_NAMES: Readonly<Record<EventKind, string>> = Object.fromEntries(
  Object.entries(EventKind)
    .filter((entry): entry is [string, EventKind] => typeof entry[1] === "number")
    .map(([name, value]) => [value, name.toLowerCase().replaceAll("_", "-")]),
) as Record<EventKind, string>;

/** An event's kind as shown; an event the hub has no kind for shows its own type when it has one. */
export function eventKindName(event: FleetEvent): string {
  const type = event.details?.type;
  if (event.kind === EventKind.UNSPECIFIED && typeof type === "string" && type !== "") return type;
  return EVENT_KIND_NAMES[event.kind] ?? `kind-${event.kind}`;
}

/**
 * Reads `--kind` values: names as shown (`desired-changed`), in any case, with dashes or
 * underscores, with or without the `event-kind-` prefix, repeated or comma-separated.
 */
export function readEventKinds(values: readonly string[] | undefined): EventKind[] {
  const known = new Map<string, EventKind>();
  for (const [value, name] of Object.entries(EVENT_KIND_NAMES)) {
    if (Number(value) !== EventKind.UNSPECIFIED) known.set(name, Number(value) as EventKind);
  }
  const picked = new Set<EventKind>();
  for (const value of (values ?? []).flatMap((v) => v.split(","))) {
    const key = value
      .trim()
      .toLowerCase()
      .replaceAll("_", "-")
      .replace(/^event-kind-/, "");
    const kind = known.get(key);
    if (kind === undefined) {
      throw new UsageError(`--kind "${value}" is not one of ${[...known.keys()].join(", ")}`);
    }
    picked.add(kind);
  }
  return [...picked];
}

/** `--since`: a duration ago (`1h`, `30m`, `7d`) counted from `nowMs`, or an RFC 3339 time. */
export function readSince(text: string, nowMs: number): Timestamp {
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const date = new Date(text);
    if (Number.isNaN(date.getTime())) throw new UsageError(`--since: "${text}" is not an RFC 3339 time`);
    return timestampFromDate(date);
  }
  return timestampFromDate(new Date(nowMs - readDurationMs(text, "--since")));
}

/** `--limit`: a whole number of events; 0 means no limit. */
export function readLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EVENT_LIMIT;
  if (!/^\d+$/.test(text))
    throw new UsageError(`--limit "${text}" must be a whole number (0 shows every event)`);
  return Number(text);
}

/** The poll interval of `--follow`: FLOTILLA_EVENTS_POLL_MS (milliseconds, at least 1), else EVENTS_POLL_MS. */
export function readPollIntervalMs(env: CliIo["env"]): number {
  const text = env.FLOTILLA_EVENTS_POLL_MS;
  if (text === undefined || text === "") return EVENTS_POLL_MS;
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new Error(`FLOTILLA_EVENTS_POLL_MS: "${text}" must be a whole number of milliseconds, at least 1`);
  }
  return Number(text);
}

const KIND_COLOURS: Partial<Record<EventKind, Colour>> = {
  [EventKind.CLUSTER_CONNECTED]: "green",
  [EventKind.DELIVERED]: "green",
  [EventKind.PROBLEM_RESOLVED]: "green",
  [EventKind.CLUSTER_DISCONNECTED]: "red",
  [EventKind.DELIVERY_REJECTED]: "red",
  [EventKind.PROBLEM_RAISED]: "red",
};

const EVENT_HEADER = ["TIME", "KIND", "CLUSTER", "APP", "ACTOR", "MESSAGE"];

function eventRow(event: FleetEvent): Cell[] {
  const kind = eventKindName(event);
  const colour = KIND_COLOURS[event.kind];
  return [
    formatTimestamp(event.at),
    colour ? { text: kind, colour } : kind,
    event.cluster || "-",
    event.app || "-",
    event.actor || "-",
    oneLine(event.message),
  ];
}

/**
 * Prints batches of events, oldest first within each batch. Table: the header once, columns as
 * wide as the widest cell so far (a streamed table only ever widens, starting wide enough for
 * any time and kind). JSON: one protobuf JSON object per line.
 */
export function createEventPrinter(
  io: CliIo,
  output: "table" | "json",
  streaming: boolean,
): (events: readonly FleetEvent[]) => void {
  if (output === "json") {
    return (events) => {
      for (const event of events) io.stdout(`${JSON.stringify(toJson(EventSchema, event))}\n`);
    };
  }
  const colour = useColour(io);
  const kindWidth = Math.max(...Object.values(EVENT_KIND_NAMES).map((name) => name.length));
  let widths: number[] = streaming ? ["2030-01-01T00:00:00Z".length, kindWidth] : [];
  let headerShown = false;
  return (events) => {
    if (events.length === 0) return;
    const rows = events.map(eventRow);
    widths = columnWidths(EVENT_HEADER, rows, widths);
    io.stdout(formatTable(EVENT_HEADER, rows, colour, { minWidths: widths, omitHeader: headerShown }));
    headerShown = true;
  };
}

type EventFilters = Pick<ListEventsRequest, "cluster" | "app" | "kinds"> & { since?: Timestamp };

/**
 * The newest `limit` events (0: all) matching `filters`, newest first, and whether the hub may
 * hold more. Throws when the hub hands out the same page token twice.
 */
export async function listNewestEvents(
  { client, callOptions }: Pick<FleetConnection, "client" | "callOptions">,
  filters: EventFilters,
  limit: number,
): Promise<{ events: FleetEvent[]; more: boolean }> {
  const events: FleetEvent[] = [];
  const seen = new Set<string>();
  let pageToken = "";
  do {
    const wanted = limit === 0 ? MAX_PAGE_SIZE : Math.min(MAX_PAGE_SIZE, limit - events.length);
    const page = await client.listEvents({ ...filters, pageSize: wanted, pageToken }, callOptions);
    events.push(...page.events);
    pageToken = page.nextPageToken;
    if (seen.has(pageToken)) throw new Error("ListEvents: the hub returned the same page token twice");
    seen.add(pageToken);
  } while (pageToken !== "" && (limit === 0 || events.length < limit));
  const more = pageToken !== "" || (limit > 0 && events.length > limit);
  return { events: limit > 0 ? events.slice(0, limit) : events, more };
}

function compareTimestamps(a: Timestamp, b: Timestamp): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  return a.nanos - b.nanos;
}

/**
 * Where the next poll starts: the time of the newest event seen (ListEvents' `since` is
 * inclusive), and the ids of the events at exactly that time, which the next poll returns again.
 */
export type FollowCursor = { since?: Timestamp; idsAtSince: Set<string> };

/** Moves `cursor` past `events` (every event the hub returned since `cursor.since`); returns the ones not seen before. */
export function advanceCursor(cursor: FollowCursor, events: readonly FleetEvent[]): FleetEvent[] {
  const fresh = events.filter((event) => !cursor.idsAtSince.has(event.id));
  let newest: Timestamp | undefined;
  for (const event of events) {
    if (event.at && (!newest || compareTimestamps(event.at, newest) > 0)) newest = event.at;
  }
  if (newest && (!cursor.since || compareTimestamps(newest, cursor.since) > 0)) {
    cursor.since = newest;
    cursor.idsAtSince = new Set();
  }
  const since = cursor.since;
  for (const event of events) {
    if (since && event.at && compareTimestamps(event.at, since) === 0) cursor.idsAtSince.add(event.id);
  }
  return fresh;
}

/** `io.signal`, else a signal the process's SIGINT or SIGTERM aborts; `release` removes the listeners. */
function interruptSignal(io: CliIo): { signal: AbortSignal; release: () => void } {
  if (io.signal) return { signal: io.signal, release: () => {} };
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return {
    signal: controller.signal,
    release: () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    },
  };
}

/** Waits `ms`; false when `signal` aborted first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch (error) {
    if (signal.aborted) return false;
    throw error;
  }
}

// A hub that restarts or a network that blips does not end --follow; anything else does.
const TRANSIENT_CODES = new Set(["UNAVAILABLE", "DEADLINE_EXCEEDED"]);

/**
 * Polls every `pollMs` for events after `cursor` and prints the new ones, oldest first, until
 * `signal` aborts. An unreachable hub is reported once and polled again; other errors throw.
 */
export async function followEvents(
  fleet: FleetConnection,
  io: CliIo,
  options: {
    filters: EventFilters;
    cursor: FollowCursor;
    print: (events: readonly FleetEvent[]) => void;
    pollMs: number;
    signal: AbortSignal;
  },
): Promise<void> {
  const { filters, cursor, print, pollMs, signal } = options;
  const callOptions = { ...fleet.callOptions, signal };
  let unreachable = false;
  while (await pause(pollMs, signal)) {
    let events: FleetEvent[];
    try {
      const request = { ...filters, ...(cursor.since ? { since: cursor.since } : {}) };
      events = await collectPages("ListEvents", async (pageToken) => {
        const page = await fleet.client.listEvents(
          { ...request, pageSize: MAX_PAGE_SIZE, pageToken },
          callOptions,
        );
        return { items: page.events, nextPageToken: page.nextPageToken };
      });
    } catch (error) {
      if (signal.aborted) return;
      if (!(error instanceof GrpcError) || !TRANSIENT_CODES.has(error.code)) throw error;
      if (!unreachable) {
        io.stderr(`flotilla: ${describeHubError(error, fleet.target)}; trying again every ${pollMs} ms\n`);
        unreachable = true;
      }
      continue;
    }
    if (unreachable) {
      io.stderr("flotilla: the hub answers again\n");
      unreachable = false;
    }
    // The hub lists newest first.
    print(advanceCursor(cursor, events).reverse());
  }
}

export const eventsCommand: Command = {
  path: ["events"],
  summary: "Show the event history (who committed what, where it went); --follow for new ones",
  usage:
    "flotilla events [--cluster <name>] [--app <name>] [--kind <kind>[,<kind>]]... [--since <duration ago, e.g. 1h, or an RFC 3339 time>] [--limit <n, default 100; 0 for all>] [--follow] [-o table|json] [--hub <url>] [--token <token>] [--ca <file>]",
  run: async (args, io) => {
    const { values, positionals } = parseHubArgs(args, {
      cluster: { type: "string" },
      app: { type: "string" },
      kind: { type: "string", multiple: true },
      since: { type: "string" },
      limit: { type: "string" },
      follow: { type: "boolean", short: "f", default: false },
      output: { type: "string", short: "o" },
    });
    noPositionals(positionals);
    const output = readOutput(values.output, ["table", "json"]) as "table" | "json";
    const since = values.since === undefined ? undefined : readSince(values.since, Date.now());
    const filters: EventFilters = {
      cluster: values.cluster ?? "",
      app: values.app ?? "",
      kinds: readEventKinds(values.kind),
      ...(since ? { since } : {}),
    };
    const limit = readLimit(values.limit);
    const follow = values.follow ?? false;

    return withFleetClient(io, values, async (fleet) => {
      const pollMs = readPollIntervalMs(io.env);
      // Listening from the start, so Ctrl-C during the first listing ends --follow too.
      const interrupt = follow ? interruptSignal(io) : undefined;
      try {
        const print = createEventPrinter(io, output, follow);
        const { events, more } = await listNewestEvents(fleet, filters, limit);
        const cursor: FollowCursor = { ...(since ? { since } : {}), idsAtSince: new Set() };
        print(advanceCursor(cursor, events).reverse());
        if (more) io.stderr(`Showing the newest ${limit} events; --limit 0 shows all.\n`);
        if (interrupt) {
          await followEvents(fleet, io, { filters, cursor, print, pollMs, signal: interrupt.signal });
        } else if (events.length === 0 && output === "table") io.stderr("No events.\n");
        return 0;
      } finally {
        interrupt?.release();
      }
    });
  },
};
