// An AgentPlatform for command tests without a cluster: a kube client that answers only what join
// asks (the kube-system Namespace), and an in-memory reconciler that persists through the store it
// is given and reports every app it holds as Synced, Healthy unless told otherwise. Its passes go
// to onPass as real ones do: "synced" (every object created) for a new digest, else "unchanged".
import type { DesiredApp } from "../desired/desired-app.js";
import type { AgentState } from "../desired/state-store.js";
import type { KubeClient } from "../kube/kube-client.js";
import type { AppStatus } from "../reconcile/app-status.js";
import type { Reconciler, ReconcilerOptions } from "../reconcile/reconciler.js";
import type { AgentPlatform } from "./create-agent.js";
import type { AgentIo } from "./read-agent-flags.js";

export type FakePlatform = AgentPlatform & {
  kube: KubeClient;
  /** Apps upserted into any reconciler created, in order. */
  upserted: string[];
};

export function createFakePlatform(
  options: { clusterName?: string; healthOf?: (app: string) => AppStatus["health"] } = {},
): FakePlatform {
  const unsupported = () => {
    throw new Error("fake kube: not used by these tests");
  };
  const kube: KubeClient = {
    server: "https://10.0.0.1:6443",
    async get(_apiVersion, key) {
      if (key.kind !== "Namespace" || key.name !== "kube-system") return undefined;
      return {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "kube-system", uid: "uid-kube-system" },
      };
    },
    resourceFor: unsupported,
    invalidateDiscovery: unsupported,
    list: unsupported,
    apply: unsupported,
    create: unsupported,
    replace: unsupported,
    delete: unsupported,
    watch: unsupported,
    requestCounts: () => ({ get: 0, list: 0, watch: 0, writes: 0, dryRuns: 0 }),
  };
  const upserted: string[] = [];
  const healthOf = options.healthOf ?? (() => "Healthy");

  function createReconciler(reconcilerOptions: ReconcilerOptions): Reconciler {
    const { store, onStatus, onRemoved, onPass } = reconcilerOptions;
    let state: AgentState = { apps: {} };
    const statuses = new Map<string, AppStatus>();
    const statusOf = (app: DesiredApp): AppStatus => ({
      name: app.name,
      digest: app.digest,
      revision: app.revision,
      sync: "Synced",
      health: healthOf(app.name),
      healthMessage: "",
      resources: [],
      conditions: [],
    });
    const reconcile = (app: DesiredApp, result: "synced" | "unchanged" = "unchanged") => {
      const status = statusOf(app);
      statuses.set(app.name, status);
      onStatus?.(status);
      const applied = result === "synced" ? app.objects.map(() => "created" as const) : [];
      onPass?.({ app: app.name, result, seconds: 0, applied });
      return status;
    };
    const reconciler: Reconciler = {
      async start() {
        state = await store.load();
      },
      async setDesired(apps) {
        for (const name of Object.keys(state.apps)) {
          if (!apps.some((app) => app.name === name)) await reconciler.remove(name);
        }
        for (const app of apps) await reconciler.upsert(app);
      },
      async upsert(app) {
        upserted.push(app.name);
        if (state.apps[app.name]?.desired.digest === app.digest) return;
        state.apps[app.name] = { desired: app, inventory: [] };
        await store.save(state);
        reconcile(app, "synced");
      },
      async remove(name) {
        delete state.apps[name];
        statuses.delete(name);
        await store.save(state);
        onRemoved?.(name);
      },
      async sync(name) {
        const record = state.apps[name];
        return record && reconcile(record.desired);
      },
      async reconcileAll() {
        return Object.values(state.apps).map((record) => reconcile(record.desired));
      },
      async settle() {
        return [...statuses.values()];
      },
      statuses: () => [...statuses.values()],
      apps: () => Object.values(state.apps).map((record) => record.desired),
      queueDepth: () => 0,
      async stop() {},
    };
    return reconciler;
  }

  return {
    kube,
    upserted,
    connectKube: () => ({ kube, clusterName: options.clusterName }),
    createReconciler,
  };
}

export type StartedCommand = {
  /** The exit code, once the command returned. */
  done: Promise<number>;
  /** Aborts the command as SIGTERM does and resolves with its exit code. */
  stop(): Promise<number>;
  stdout(): string;
  stderr(): string;
};

/** Runs a command in the background with captured output and `env` as its environment. */
export function startCommand(
  run: (argv: string[], io: AgentIo) => Promise<number>,
  argv: string[],
  env: Record<string, string> = {},
): StartedCommand {
  const controller = new AbortController();
  let stdout = "";
  let stderr = "";
  const io: AgentIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env,
    signal: controller.signal,
  };
  const done = run(argv, io);
  return {
    done,
    stop() {
      controller.abort();
      return done;
    },
    stdout: () => stdout,
    stderr: () => stderr,
  };
}
