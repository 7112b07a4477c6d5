// A child process of the status-ingest benchmark hosting many status reporters: real AgentService
// clients (TLS, HTTP/2, the real Register and Connect protocol), one connection each, that do
// nothing but report AppStatus messages as fast as the stream takes them. The simulated agents
// of ../harness/simulated-agent.ts report only after a change they applied; this benchmark needs
// a stream of reports with changing content and no desired state, so it speaks the protocol
// itself. Driven by the parent over IPC (see forkBenchChild): `join`, `flood`, `close`.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { AgentService } from "@flotilla/proto/gen/flotilla/v1/agent_pb";
import { type AppStatusSchema, HealthStatus, SyncStatus } from "@flotilla/proto/gen/flotilla/v1/app_pb";
import { closeClient, createClient, credentials } from "@flotilla/proto/grpc";
import { answerParent } from "./fanout-worker.js";

export type ReporterJoinArgs = {
  /** `https://host:port` of the hub. */
  hubUrl: string;
  caPem: string;
  token: string;
  names: string[];
  labels: Record<string, string>;
  /** Registrations in flight at once. */
  concurrency: number;
};

export type FloodArgs = {
  /** Tells this flood's revisions apart from the previous ones. */
  run: number;
  apps: number;
  /** Reports per app; the last one of each app carries `finalHealth`. */
  updatesPerApp: number;
  /** The health of every app's last report (the earlier ones alternate Healthy and Progressing). */
  finalHealth: "Degraded" | "Suspended";
};

export type FloodAnswer = {
  /** Epoch milliseconds (performance.timeOrigin + performance.now()) of the first send. */
  firstSentAtMs: number;
  /** When the transport took the last report. */
  lastSentAtMs: number;
  sent: number;
  /** Streams that failed during the flood. */
  failures: number;
};

type AgentClient = ReturnType<typeof createClient<typeof AgentService>>;
type ConnectStream = ReturnType<AgentClient["connect"]>;
type Reporter = { name: string; client: AgentClient; stream: ConnectStream; ended: Promise<void> };

const FINAL_HEALTH = { Degraded: HealthStatus.DEGRADED, Suspended: HealthStatus.SUSPENDED } as const;

export function appName(index: number): string {
  return `app-${String(index).padStart(2, "0")}`;
}

/** Registers `name` with the bootstrap token, opens Connect and waits for Welcome. */
async function joinReporter(args: ReporterJoinArgs, name: string): Promise<Reporter> {
  const address = new URL(args.hubUrl).host;
  const client = createClient(AgentService, address, credentials.createSsl(Buffer.from(args.caPem)), {
    channelOptions: { "grpc.use_local_subchannel_pool": 1 },
  });
  const registered = await client
    .register(
      {
        bootstrapToken: args.token,
        clusterName: name,
        labels: args.labels,
        agentVersion: "status-bench",
        kubeVersion: "v0.0.0-simulated",
        serverUrl: `https://${name}.simulated.invalid`,
        clusterUid: randomUUID(),
      },
      { deadlineMs: 120_000 },
    )
    .catch((error: unknown) => {
      closeClient(client);
      throw new Error(`status reporter ${name}: Register failed`, { cause: error });
    });
  const stream: ConnectStream = client.connect({
    metadata: { authorization: `Bearer ${registered.credential}` },
  });
  let welcomed: () => void = () => {};
  let failed: (error: Error) => void = () => {};
  const welcome = new Promise<void>((resolve, reject) => {
    welcomed = resolve;
    failed = reject;
  });
  // The hub sends Welcome and nothing else (no sources, so no desired state); heartbeats keep
  // the cluster Connected between floods.
  const ended = (async () => {
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    try {
      for await (const message of stream) {
        if (message.body.case !== "welcome") continue;
        const intervalMs = message.body.value.heartbeatIntervalMs || 10_000;
        heartbeat = setInterval(() => {
          void stream
            .send({ body: { case: "heartbeat", value: { sentAt: timestampNow(), lastAppliedSeq: 0n } } })
            .catch(() => {});
        }, intervalMs);
        heartbeat.unref();
        welcomed();
      }
    } catch (error) {
      failed(new Error(`status reporter ${name}: the stream failed`, { cause: error }));
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      failed(new Error(`status reporter ${name}: the stream ended before Welcome`));
    }
  })();
  await stream.send({
    body: {
      case: "hello",
      value: {
        clusterName: registered.clusterName || name,
        agentVersion: "status-bench",
        kubeVersion: "v0.0.0-simulated",
        instanceId: `${name}-1`,
      },
    },
  });
  await welcome;
  return { name, client, stream, ended };
}

/** One report of `app`: three resources, a revision and digest of this update. */
function statusOf(
  app: string,
  revision: string,
  health: HealthStatus,
): MessageInitShape<typeof AppStatusSchema> {
  const sync = health === HealthStatus.HEALTHY ? SyncStatus.SYNCED : SyncStatus.OUT_OF_SYNC;
  return {
    app,
    digest: `sha256:${revision}`,
    revision,
    syncStatus: sync,
    healthStatus: health,
    healthMessage: health === HealthStatus.HEALTHY ? "" : `deployment ${app}: 1 of 2 replicas ready`,
    observedAt: timestampNow(),
    resources: [
      {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        namespace: app,
        name: app,
        syncStatus: sync,
        healthStatus: health,
      },
      {
        group: "",
        version: "v1",
        kind: "Service",
        namespace: app,
        name: app,
        syncStatus: SyncStatus.SYNCED,
        healthStatus: HealthStatus.HEALTHY,
      },
      {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        namespace: app,
        name: `${app}-config`,
        syncStatus: SyncStatus.SYNCED,
      },
    ],
  };
}

function createWorker(progress: (line: string) => void) {
  const reporters: Reporter[] = [];

  async function join(args: ReporterJoinArgs): Promise<{ agents: number; seconds: number }> {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.max(1, args.concurrency) }, async () => {
        for (let i = next++; i < args.names.length; i = next++) {
          reporters.push(await joinReporter(args, args.names[i] ?? ""));
        }
      }),
    );
    progress(`${reporters.length} reporters connected`);
    return { agents: reporters.length, seconds: (performance.now() - started) / 1000 };
  }

  /** Every reporter sends updatesPerApp rounds over its apps, awaiting each send (flow control). */
  async function flood(args: FloodArgs): Promise<FloodAnswer> {
    const epochNow = () => performance.timeOrigin + performance.now();
    const firstSentAtMs = epochNow();
    let sent = 0;
    let failures = 0;
    await Promise.all(
      reporters.map(async (reporter) => {
        try {
          for (let round = 0; round < args.updatesPerApp; round++) {
            const last = round === args.updatesPerApp - 1;
            const health = last
              ? FINAL_HEALTH[args.finalHealth]
              : round % 2 === 0
                ? HealthStatus.PROGRESSING
                : HealthStatus.HEALTHY;
            const revision = `r${args.run}-${round}`;
            for (let app = 0; app < args.apps; app++) {
              await reporter.stream.send({
                body: { case: "appStatus", value: statusOf(appName(app), revision, health) },
              });
              sent += 1;
            }
          }
        } catch {
          failures += 1;
        }
      }),
    );
    return { firstSentAtMs, lastSentAtMs: epochNow(), sent, failures };
  }

  async function close(): Promise<{ agents: number }> {
    const closing = reporters.splice(0);
    for (const reporter of closing) reporter.stream.end();
    await Promise.race([
      Promise.all(closing.map((reporter) => reporter.ended)),
      new Promise((resolve) => setTimeout(resolve, 5_000)),
    ]);
    for (const reporter of closing) {
      reporter.stream.cancel();
      closeClient(reporter.client);
    }
    return { agents: closing.length };
  }

  return { join, flood, close };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let progress: (line: string) => void = () => {};
  const worker = createWorker((line) => progress(line));
  ({ progress } = answerParent({
    join: (args: ReporterJoinArgs) => worker.join(args),
    flood: (args: FloodArgs) => worker.flood(args),
    close: () => worker.close(),
  }));
}
