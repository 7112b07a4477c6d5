// A child process of the fanout benchmark hosting many simulated agents (real gRPC clients, each
// on its own TLS connection; see ../harness/simulated-agent.ts), driven by the parent over IPC:
// `join` registers and connects agents, `collect` waits until every agent holds a revision and
// answers when each one persisted it, `close` disconnects them all.
//
// Also the small request/answer protocol the benchmark's children speak (this worker and
// bare-fanout-server.ts): the parent sends `{ id, op, args }`, the child answers
// `{ id, ok, value }` or `{ id, ok: false, error }` and may send `{ progress }` at any time.
import { type ChildProcess, fork } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { type DesiredAppUpsert, HubMessageSchema } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { joinSimulatedAgent, type SimulatedAgent } from "../harness/simulated-agent.js";

type Request = { id: number; op: string; args: unknown };
type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };
type ChildMessage = Answer | { progress: string };

export type BenchChild = {
  pid: number;
  /** Sends `op` and resolves with the child's answer; rejects naming the child and the op when it fails or exits. */
  call<T>(op: string, args?: unknown): Promise<T>;
  /** Asks the child to exit (SIGTERM), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
};

/**
 * Forks `modulePath` (a TypeScript module run through tsx, as the parent is) as a benchmark
 * child named `name`; its progress lines go to `onProgress`. Values cross with the structured
 * clone algorithm (bigint and Uint8Array survive).
 */
export function forkBenchChild(
  modulePath: string,
  name: string,
  onProgress: (line: string) => void,
): BenchChild {
  const child: ChildProcess = fork(modulePath, [], {
    execArgv: ["--conditions=source", "--import", "tsx"],
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void; op: string }
  >();
  let nextId = 1;
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = `exited (${code ?? signal})`;
      for (const [id, waiter] of pending) {
        pending.delete(id);
        waiter.reject(new Error(`${name}: ${exit} during ${waiter.op}`));
      }
      resolve();
    });
  });
  child.on("message", (message: ChildMessage) => {
    if ("progress" in message) {
      onProgress(`${name}: ${message.progress}`);
      return;
    }
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(new Error(`${name}: ${waiter.op} failed: ${message.error}`));
  });
  return {
    pid: child.pid ?? 0,
    call<T>(op: string, args?: unknown): Promise<T> {
      if (exit) return Promise.reject(new Error(`${name}: ${exit}, cannot ${op}`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, op });
        child.send({ id, op, args } satisfies Request);
      });
    },
    async stop(graceMs = 10_000) {
      if (exit) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** In a child: answers the parent's requests with `handlers`, one op at a time per request. */
export function answerParent(handlers: Record<string, (args: never) => Promise<unknown>>): {
  progress(line: string): void;
} {
  const send = (message: ChildMessage) => process.send?.(message);
  process.on("message", (request: Request) => {
    const handler = handlers[request.op];
    if (!handler) {
      send({ id: request.id, ok: false, error: `unknown op ${JSON.stringify(request.op)}` });
      return;
    }
    handler(request.args as never).then(
      (value) => send({ id: request.id, ok: true, value }),
      (error: unknown) =>
        send({
          id: request.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
  });
  // The parent went away: nothing left to serve.
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  return { progress: (line) => send({ progress: line }) };
}

export type JoinArgs = {
  /** `https://host:port` of the hub (or of the bare server, which speaks the same protocol). */
  hubUrl: string;
  caPem: string;
  token: string;
  names: string[];
  /** Registrations and connects in flight at once in this worker. */
  concurrency: number;
  reportStatuses: boolean;
};

export type JoinAnswer = { agents: number; seconds: number };

export type CollectArgs = { revision: string; timeoutMs: number };

export type CollectAnswer = {
  /** When each agent persisted the upsert of `revision` (epoch ms, see AppliedRecord.persistedAtMs). */
  times: number[];
  /** Agents that did not get it within the timeout (at most 10 names) and how many in all. */
  missing: string[];
  missingCount: number;
  /** The encoded HubMessage of one agent's upsert of `revision`; empty when no agent got it. */
  upsert: Uint8Array;
};

/** The state of the worker: its agents and, per revision, when each of them persisted it. */
function createWorker(progress: (line: string) => void) {
  const agents: SimulatedAgent[] = [];
  const seen = new Map<string, Map<string, number>>();
  const upserts = new Map<string, Uint8Array>();
  const waiters = new Set<{ revision: string; check(): void }>();

  const record = (agent: string, upsert: DesiredAppUpsert, atMs: number) => {
    const revision = upsert.app?.revision ?? "";
    let byAgent = seen.get(revision);
    if (!byAgent) {
      byAgent = new Map();
      seen.set(revision, byAgent);
      upserts.set(
        revision,
        toBinary(HubMessageSchema, create(HubMessageSchema, { body: { case: "upsert", value: upsert } })),
      );
    }
    if (!byAgent.has(agent)) byAgent.set(agent, atMs);
    for (const waiter of waiters) if (waiter.revision === revision) waiter.check();
  };

  async function join(args: JoinArgs): Promise<JoinAnswer> {
    const started = performance.now();
    const joined: SimulatedAgent[] = [];
    let connected = 0;
    let next = 0;
    let lastReport = started;
    const joinOne = async (name: string) => {
      // A hub swamped by a join wave may let a Register time out; the retry re-joins the same cluster (same uid).
      const clusterUid = createHash("sha256").update(name).digest("hex");
      let agent: SimulatedAgent | undefined;
      for (let attempt = 1; agent === undefined; attempt += 1) {
        try {
          agent = await joinOnce(name, clusterUid);
        } catch (error) {
          if (attempt >= 3) throw error;
          progress(`${name}: ${error instanceof Error ? error.message : String(error)}; retrying`);
        }
      }
      joined.push(agent);
      await agent.connect();
      connected += 1;
    };
    const joinOnce = (name: string, clusterUid: string) =>
      joinSimulatedAgent({
        hubUrl: args.hubUrl,
        caPem: args.caPem,
        token: args.token,
        name,
        reportStatuses: args.reportStatuses,
        // Long backoff ceiling: under load a broken stream should not turn into a reconnect storm.
        backoff: { initialMs: 500, maxMs: 10_000 },
        timeoutMs: 120_000,
        clusterUid,
        onApplied: (applied, change) => {
          if (applied.kind === "upsert") record(name, change as DesiredAppUpsert, applied.persistedAtMs);
        },
      });
    await Promise.all(
      Array.from({ length: Math.max(1, args.concurrency) }, async () => {
        for (let i = next++; i < args.names.length; i = next++) {
          await joinOne(args.names[i] ?? "");
          if (performance.now() - lastReport > 5_000) {
            lastReport = performance.now();
            progress(`${connected}/${args.names.length} agents connected (${joined.length} registered)`);
          }
        }
      }),
    );
    agents.push(...joined);
    return { agents: joined.length, seconds: (performance.now() - started) / 1000 };
  }

  function collect(args: CollectArgs): Promise<CollectAnswer> {
    return new Promise((resolve) => {
      const answer = () => {
        const byAgent = seen.get(args.revision) ?? new Map<string, number>();
        const missing = agents.filter((agent) => !byAgent.has(agent.name)).map((agent) => agent.name);
        return {
          times: [...byAgent.values()],
          missing: missing.slice(0, 10),
          missingCount: missing.length,
          upsert: upserts.get(args.revision) ?? new Uint8Array(),
        };
      };
      const waiter = {
        revision: args.revision,
        check() {
          if ((seen.get(args.revision)?.size ?? 0) < agents.length) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(answer());
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        resolve(answer());
      }, args.timeoutMs);
      waiters.add(waiter);
      waiter.check();
    });
  }

  async function close(): Promise<{ agents: number }> {
    const count = agents.length;
    await Promise.all(agents.splice(0).map((agent) => agent.close()));
    seen.clear();
    upserts.clear();
    return { agents: count };
  }

  return { join, collect, close };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let progress: (line: string) => void = () => {};
  const worker = createWorker((line) => progress(line));
  ({ progress } = answerParent({
    join: (args: JoinArgs) => worker.join(args),
    collect: (args: CollectArgs) => worker.collect(args),
    close: () => worker.close(),
  }));
}
