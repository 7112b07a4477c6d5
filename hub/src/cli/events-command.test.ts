import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { type Timestamp, timestampFromDate, timestampMs } from "@bufbuild/protobuf/wkt";
import { ConnectionState, EventKind, type ListEventsRequest } from "@flotilla/proto/gen/flotilla/v1/fleet_pb";
import { GrpcError } from "@flotilla/proto/grpc";
import { ADMIN_TOKEN, type FakeFleet, runFlotilla, useFakeHub } from "./use-fake-hub.js";

/** 2030-01-01T00:00:0<second>Z */
const at = (second: number) => timestampFromDate(new Date(Date.UTC(2030, 0, 1, 0, 0, second)));

function seedFleet(fleet: FakeFleet): void {
  fleet.clusters.push(
    { name: "c-1", connection: ConnectionState.CONNECTED },
    { name: "c-2", connection: ConnectionState.CONNECTED },
  );
  fleet.events.push(
    {
      id: "1",
      at: at(0),
      kind: EventKind.CLUSTER_REGISTERED,
      cluster: "c-1",
      actor: "admin",
      message: "cluster c-1 registered with bootstrap token tok000",
    },
    {
      id: "2",
      at: at(1),
      kind: EventKind.DESIRED_CHANGED,
      cluster: "c-1",
      app: "web",
      actor: "ada@example.com",
      message: "desired state changed\nto 2222222",
    },
    {
      id: "3",
      at: at(2),
      kind: EventKind.DELIVERED,
      cluster: "c-1",
      app: "web",
      actor: "agent",
      message: "seq 4",
    },
    {
      id: "4",
      at: at(3),
      kind: EventKind.HEALTH_CHANGED,
      cluster: "c-2",
      app: "web",
      actor: "agent",
      message: "Progressing -> Degraded",
    },
    {
      id: "5",
      at: at(3),
      kind: EventKind.UNSPECIFIED,
      cluster: "c-2",
      actor: "admin",
      message: "cluster credential rotated",
      details: { type: "credential-rotated" },
    },
  );
}

/** Resolves once `condition` holds, checking every few milliseconds; rejects when `signal` aborts first. */
async function waitFor(condition: () => boolean, signal: AbortSignal): Promise<void> {
  while (!condition()) {
    if (signal.aborted) throw new Error("waitFor: gave up before the condition held");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("flotilla events", () => {
  const hub = useFakeHub(seedFleet);
  const env = (extra: Record<string, string> = {}) => ({
    FLOTILLA_HUB: hub().url,
    FLOTILLA_TOKEN: ADMIN_TOKEN,
    FLOTILLA_CA: hub().caPath,
    ...extra,
  });
  const firstPageRequests = () =>
    hub()
      .fleet.calls.filter((c) => c.method === "listEvents")
      .map((c) => c.request as ListEventsRequest)
      .filter((r) => r.pageToken === "");
  beforeEach(() => hub().reset());

  it("shows events oldest first over every page, kinds lowercase and dashed", async () => {
    const run = await runFlotilla(["events"], env());
    assert.equal(run.code, 0, run.err);
    assert.equal(run.err, "");
    assert.equal(
      run.out,
      [
        "TIME                  KIND                CLUSTER  APP  ACTOR            MESSAGE",
        "2030-01-01T00:00:00Z  cluster-registered  c-1      -    admin            cluster c-1 registered with bootstrap token tok000",
        "2030-01-01T00:00:01Z  desired-changed     c-1      web  ada@example.com  desired state changed to 2222222",
        "2030-01-01T00:00:02Z  delivered           c-1      web  agent            seq 4",
        "2030-01-01T00:00:03Z  health-changed      c-2      web  agent            Progressing -> Degraded",
        "2030-01-01T00:00:03Z  credential-rotated  c-2      -    admin            cluster credential rotated",
        "",
      ].join("\n"),
    );
    assert.equal(hub().fleet.calls.length, 3);
  });

  it("sends --cluster, --app and every --kind (any spelling, comma-separated) to the hub", async () => {
    const run = await runFlotilla(
      [
        "events",
        "--cluster",
        "c-1",
        "--app",
        "web",
        "--kind",
        "desired-changed,DELIVERED",
        "--kind",
        "health_changed",
      ],
      env(),
    );
    assert.equal(run.code, 0, run.err);
    const [request] = firstPageRequests();
    assert.deepEqual(
      [request?.cluster, request?.app, request?.kinds],
      ["c-1", "web", [EventKind.DESIRED_CHANGED, EventKind.DELIVERED, EventKind.HEALTH_CHANGED]],
    );
    assert.match(run.out, /^TIME .*\n\S+\s+desired-changed .*\n\S+\s+delivered .*\n$/);
  });

  it("asks for events since a duration ago, or since an RFC 3339 time", async () => {
    const before = Date.now();
    await runFlotilla(["events", "--since", "1h"], env());
    const after = Date.now();
    await runFlotilla(["events", "--since", "2030-01-01T00:00:02Z"], env());
    const [relative, absolute] = firstPageRequests().map((r) => timestampMs(r.since as Timestamp));
    assert.ok(relative !== undefined && relative >= before - 3_600_000 && relative <= after - 3_600_000);
    assert.equal(absolute, Date.UTC(2030, 0, 1, 0, 0, 2));
  });

  it("shows the newest --limit events, oldest first, and says there are more", async () => {
    const run = await runFlotilla(["events", "--limit", "3"], env());
    assert.equal(run.code, 0, run.err);
    assert.match(
      run.out,
      /^TIME .*\n\S+\s+delivered .*\n\S+\s+health-changed .*\n\S+\s+credential-rotated .*\n$/,
    );
    assert.equal(run.err, "Showing the newest 3 events; --limit 0 shows all.\n");
  });

  it("prints one protobuf JSON object per line with -o json", async () => {
    const run = await runFlotilla(["events", "-o", "json", "--app", "web"], env());
    assert.equal(run.code, 0, run.err);
    const lines = run.out.trimEnd().split("\n");
    const events = lines.map((line) => JSON.parse(line) as { id: string; kind: string; at: string });
    assert.deepEqual(
      events.map((e) => [e.id, e.kind, e.at]),
      [
        ["2", "EVENT_KIND_DESIRED_CHANGED", "2030-01-01T00:00:01Z"],
        ["3", "EVENT_KIND_DELIVERED", "2030-01-01T00:00:02Z"],
        ["4", "EVENT_KIND_HEALTH_CHANGED", "2030-01-01T00:00:03Z"],
      ],
    );
  });

  it("says on stderr when there are no events", async () => {
    const run = await runFlotilla(["events", "--app", "nope"], env());
    assert.deepEqual([run.code, run.out, run.err], [0, "", "No events.\n"]);
  });

  it("shows the hub's NOT_FOUND message for an unknown cluster and exits 1", async () => {
    const run = await runFlotilla(["events", "--cluster", "nope"], env());
    assert.deepEqual(
      [run.code, run.out, run.err],
      [1, "", 'flotilla: cluster "nope" does not exist (NOT_FOUND)\n'],
    );
  });

  describe("--follow", { timeout: 30_000 }, () => {
    /**
     * Runs `events --follow <args>`: `onOutput` sees stdout so far and returns true to stop (as
     * Ctrl-C would). Gives up after 10 s, which fails the test's assertions.
     */
    async function follow(args: string[], onOutput: (out: string) => boolean) {
      const controller = new AbortController();
      const deadline = setTimeout(() => controller.abort(), 10_000);
      try {
        return await runFlotilla(["events", "--follow", ...args], env({ FLOTILLA_EVENTS_POLL_MS: "10" }), {
          signal: controller.signal,
          onStdout: (out) => {
            if (onOutput(out)) controller.abort();
          },
        });
      } finally {
        clearTimeout(deadline);
      }
    }

    it("prints events that arrive later once each, polling since the newest one seen", async () => {
      let added = false;
      const run = await follow([], (out) => {
        if (!added && out.includes("credential-rotated")) {
          added = true;
          // Same time as the newest seen (since is inclusive: only the id tells it is new), and later.
          hub().fleet.events.push(
            {
              id: "6",
              at: at(3),
              kind: EventKind.DELIVERED,
              cluster: "c-2",
              app: "web",
              actor: "agent",
              message: "seq 9",
            },
            {
              id: "7",
              at: at(4),
              kind: EventKind.PROBLEM_RAISED,
              cluster: "c-2",
              app: "web",
              message: "boom",
            },
          );
        }
        return out.includes("problem-raised");
      });
      assert.equal(run.code, 0, run.err);
      assert.equal(run.err, "");
      const lines = run.out.trimEnd().split("\n");
      assert.equal(
        lines[0],
        "TIME                  KIND                  CLUSTER  APP  ACTOR            MESSAGE",
      );
      assert.deepEqual(
        lines.slice(1).map((line) => line.split(/\s+/)[1]),
        [
          "cluster-registered",
          "desired-changed",
          "delivered",
          "health-changed",
          "credential-rotated",
          "delivered",
          "problem-raised",
        ],
      );
      assert.equal(
        lines[7],
        "2030-01-01T00:00:04Z  problem-raised        c-2      web  -                boom",
      );
      const since = firstPageRequests().map((r) => (r.since ? timestampMs(r.since) : undefined));
      assert.equal(since[0], undefined);
      assert.ok(since.length >= 2);
      assert.deepEqual(new Set(since.slice(1)), new Set([Date.UTC(2030, 0, 1, 0, 0, 3)]));
    });

    it("streams JSON lines with -o json and keeps the filters", async () => {
      let added = false;
      const run = await follow(["-o", "json", "--cluster", "c-2"], (out) => {
        if (!added && out.split("\n").length > 2) {
          added = true;
          hub().fleet.events.push(
            { id: "6", at: at(5), kind: EventKind.DELIVERED, cluster: "c-1", message: "other cluster" },
            { id: "7", at: at(6), kind: EventKind.DELIVERED, cluster: "c-2", message: "seq 9" },
          );
        }
        return out.includes("seq 9");
      });
      assert.equal(run.code, 0, run.err);
      const ids = run.out
        .trimEnd()
        .split("\n")
        .map((line) => (JSON.parse(line) as { id: string }).id);
      assert.deepEqual(ids, ["4", "5", "7"]);
      assert.ok(firstPageRequests().every((r) => r.cluster === "c-2"));
    });

    it("starts from an empty history and prints the first events when they come", async () => {
      const controller = new AbortController();
      const deadline = setTimeout(() => controller.abort(), 10_000);
      const running = runFlotilla(
        ["events", "--follow", "--app", "later"],
        env({ FLOTILLA_EVENTS_POLL_MS: "10" }),
        { signal: controller.signal, onStdout: (out) => out.includes("first") && controller.abort() },
      );
      await waitFor(() => firstPageRequests().length >= 2, controller.signal);
      hub().fleet.events.push({
        id: "6",
        at: at(7),
        kind: EventKind.DELIVERED,
        cluster: "c-1",
        app: "later",
        message: "first",
      });
      const run = await running;
      clearTimeout(deadline);
      assert.equal(run.code, 0, run.err);
      assert.equal(run.err, "");
      assert.match(run.out, /^TIME .*\n2030-01-01T00:00:07Z\s+delivered\s+c-1\s+later\s+-\s+first\n$/);
      // Nothing seen yet: each poll asks for the whole (filtered) history again.
      assert.ok(firstPageRequests().every((r) => r.since === undefined && r.app === "later"));
    });

    it("tells once that the hub is unavailable, keeps polling and says when it answers again", async () => {
      let failed = false;
      const run = await follow([], (out) => {
        if (!failed && out.includes("credential-rotated")) {
          failed = true;
          const unavailable = () => new GrpcError("UNAVAILABLE", "hub restarting");
          hub().fleet.failures.set("listEvents", [unavailable(), unavailable()]);
          hub().fleet.events.push({
            id: "6",
            at: at(4),
            kind: EventKind.DELIVERED,
            cluster: "c-1",
            message: "back",
          });
        }
        return out.includes("back");
      });
      assert.equal(run.code, 0, run.err);
      assert.match(
        run.err,
        /^flotilla: the hub at 127\.0\.0\.1:\d+ is unavailable: hub restarting; trying again every 10 ms\n/,
      );
      assert.match(run.err, /\nflotilla: the hub answers again\n$/);
      assert.equal(run.err.split("\n").length, 3);
      assert.match(run.out, /delivered\s+c-1\s+-\s+-\s+back\n$/);
    });

    it("ends with exit 1 when the hub refuses a poll", async () => {
      let failed = false;
      const run = await follow([], (out) => {
        if (!failed && out.includes("credential-rotated")) {
          failed = true;
          hub().fleet.failures.set("listEvents", [
            new GrpcError("NOT_FOUND", 'cluster "c-1" does not exist'),
          ]);
        }
        return false;
      });
      assert.equal(run.code, 1);
      assert.equal(run.err, 'flotilla: cluster "c-1" does not exist (NOT_FOUND)\n');
    });

    it("stops on SIGINT when no signal is given, and removes its listeners", async () => {
      const others = { SIGINT: process.rawListeners("SIGINT"), SIGTERM: process.rawListeners("SIGTERM") };
      // Call the command's own listener: emitting SIGINT would reach the test runner's too.
      const interrupt = () => {
        const ours = process.rawListeners("SIGINT").filter((listener) => !others.SIGINT.includes(listener));
        for (const listener of ours) (listener as () => void)();
        return ours.length;
      };
      let listeners = 0;
      const deadline = setTimeout(interrupt, 10_000);
      const run = await runFlotilla(["events", "--follow"], env({ FLOTILLA_EVENTS_POLL_MS: "10" }), {
        onStdout: () => {
          listeners = interrupt();
        },
      });
      clearTimeout(deadline);
      assert.equal(run.code, 0, run.err);
      assert.equal(listeners, 1);
      assert.deepEqual(process.rawListeners("SIGINT"), others.SIGINT);
      assert.deepEqual(process.rawListeners("SIGTERM"), others.SIGTERM);
    });
  });

  describe("usage errors exit 2 before calling the hub", () => {
    for (const [what, args, message] of [
      [
        "an unknown --kind",
        ["--kind", "exploded"],
        /--kind "exploded" is not one of cluster-registered, .*problem-resolved/,
      ],
      ["a --since that is no duration", ["--since", "yesterday"], /--since: "yesterday" is not a duration/],
      [
        "a --since that is no time",
        ["--since", "2030-13-45T00:00:00Z"],
        /--since: "2030-13-45T00:00:00Z" is not an RFC 3339 time/,
      ],
      ["a negative --limit", ["--limit", "-1"], /--limit/],
      ["a --limit that is no number", ["--limit", "ten"], /--limit "ten" must be a whole number/],
      ["-o wide", ["-o", "wide"], /-o must be one of table, json/],
      ["an argument", ["web"], /unexpected argument 'web'/],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const run = await runFlotilla(["events", ...args], env());
        assert.equal(run.code, 2);
        assert.match(run.err, message);
        assert.match(run.err, /Usage: flotilla events /);
        assert.deepEqual(hub().fleet.calls, []);
      });
    }
  });
});
