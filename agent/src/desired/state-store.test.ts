import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { type KubeClient, KubeError, type RequestCounts, type ResourceInfo } from "../kube/kube-client.js";
import type { KubeObject, ObjectKey } from "../kube/kube-object.js";
import type { DesiredApp } from "./desired-app.js";
import {
  type AgentState,
  type AppRecord,
  createFileStateStore,
  createSecretStateStore,
  MAX_APP_RECORD_COMPRESSED_BYTES,
} from "./state-store.js";

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function makeTempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-state-store-"));
  tempDirs.push(dir);
  return dir;
}

function desiredApp(name: string, objects: KubeObject[] = []): DesiredApp {
  return {
    name,
    namespace: "default",
    revision: "dir:0123456789ab",
    digest: `sha256:${name}`,
    syncPolicy: { automated: { prune: true, selfHeal: false, allowEmpty: false }, syncOptions: [] },
    ignoreDifferences: [],
    objects,
  };
}

function appRecord(name: string, objects: KubeObject[] = []): AppRecord {
  return {
    desired: desiredApp(name, objects),
    syncedDigest: `sha256:${name}`,
    inventory: [{ apiVersion: "v1", key: { group: "", kind: "ConfigMap", namespace: "default", name } }],
  };
}

function sampleState(): AgentState {
  return {
    identity: {
      clusterName: "edge-1",
      hubUrl: "https://hub.example:8443",
      credential: "secret-token",
      caHash: "sha256:ab",
    },
    apps: { web: appRecord("web"), db: appRecord("db") },
  };
}

describe("createFileStateStore", () => {
  it("loads an empty state when nothing was saved yet", async () => {
    const store = createFileStateStore(join(await makeTempDir(), "state.json.gz"));
    assert.deepEqual(await store.load(), { apps: {} });
  });

  it("round-trips a state through a 0600 file in a directory it creates", async () => {
    const path = join(await makeTempDir(), "nested", "dir", "state.json.gz");
    await createFileStateStore(path).save(sampleState());
    assert.deepEqual(await createFileStateStore(path).load(), sampleState());
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(gunzipSync(await readFile(path)).toString("utf8")), sampleState());
    assert.deepEqual(await readdir(join(path, "..")), ["state.json.gz"], "no temporary file is left behind");
  });

  it("writes nothing when the state did not change since the last load or save", async () => {
    const path = join(await makeTempDir(), "state.json.gz");
    const store = createFileStateStore(path);
    await store.save(sampleState());
    await rm(path);
    await store.save(sampleState());
    await assert.rejects(stat(path), { code: "ENOENT" });

    await createFileStateStore(path).save(sampleState());
    const reloaded = createFileStateStore(path);
    await reloaded.save(await reloaded.load());
    const before = await stat(path);
    await reloaded.save(sampleState());
    assert.equal((await stat(path)).mtimeMs, before.mtimeMs);
  });

  it("writes again when the state changed", async () => {
    const path = join(await makeTempDir(), "state.json.gz");
    const store = createFileStateStore(path);
    await store.save(sampleState());
    const changed = sampleState();
    delete changed.apps.db;
    await store.save(changed);
    assert.deepEqual(await createFileStateStore(path).load(), changed);
  });

  it("accepts plain JSON written by hand", async () => {
    const path = join(await makeTempDir(), "state.json");
    await writeFile(path, JSON.stringify(sampleState()));
    assert.deepEqual(await createFileStateStore(path).load(), sampleState());
  });

  it("rejects a corrupt file naming the path and the cause, instead of starting empty", async () => {
    const path = join(await makeTempDir(), "state.json.gz");
    await writeFile(path, gzipSync("{ truncated"));
    await assert.rejects(createFileStateStore(path).load(), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: corrupt agent state: `),
      );
      assert.ok(error.cause instanceof SyntaxError);
      return true;
    });
    await writeFile(path, JSON.stringify({ apps: { web: { desired: {} } } }));
    await assert.rejects(
      createFileStateStore(path).load(),
      /corrupt agent state: apps\.web\.desired: not a desired app/,
    );
  });
});

/** Secrets in memory, at the KubeClient seam; only the calls the Secret store makes. */
function createFakeKube(): KubeClient & { secrets: Map<string, KubeObject> } {
  const secrets = new Map<string, KubeObject>();
  const counts: RequestCounts = { get: 0, list: 0, watch: 0, writes: 0, dryRuns: 0 };
  const secretResource: ResourceInfo = {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    namespaced: true,
  };
  const id = (namespace: string | undefined, name: string | undefined) => `${namespace}/${name}`;
  const unsupported = () => {
    throw new Error("not used by the state store");
  };
  let resourceVersion = 0;
  const stored = (obj: KubeObject): KubeObject => {
    resourceVersion += 1;
    const copy = structuredClone(obj);
    copy.metadata.resourceVersion = String(resourceVersion);
    secrets.set(id(obj.metadata.namespace, obj.metadata.name), copy);
    return structuredClone(copy);
  };
  return {
    secrets,
    server: "fake",
    async resourceFor(apiVersion, kind) {
      if (apiVersion !== "v1" || kind !== "Secret") throw new KubeError(`${kind}: unknown`, "NoKind");
      return secretResource;
    },
    invalidateDiscovery() {},
    async get(_apiVersion, key: ObjectKey) {
      counts.get += 1;
      const found = secrets.get(id(key.namespace, key.name));
      return found && structuredClone(found);
    },
    async list(_resource, namespace) {
      counts.list += 1;
      const items = [...secrets.values()].filter(
        (s) => namespace === undefined || s.metadata.namespace === namespace,
      );
      return { items: structuredClone(items), resourceVersion: String(resourceVersion) };
    },
    apply: unsupported,
    async create(obj) {
      counts.writes += 1;
      if (secrets.has(id(obj.metadata.namespace, obj.metadata.name))) {
        throw new KubeError(`Secret/${obj.metadata.name}: already exists`, "AlreadyExists", 409);
      }
      return stored(obj);
    },
    async replace(obj) {
      counts.writes += 1;
      if (!secrets.has(id(obj.metadata.namespace, obj.metadata.name))) {
        throw new KubeError(`Secret/${obj.metadata.name}: not found`, "NotFound", 404);
      }
      return stored(obj);
    },
    async delete(_apiVersion, key) {
      counts.writes += 1;
      secrets.delete(id(key.namespace, key.name));
    },
    watch: unsupported,
    requestCounts: () => ({ ...counts }),
  };
}

function secretNames(kube: { secrets: Map<string, KubeObject> }): string[] {
  return [...kube.secrets.values()].map((s) => s.metadata.name ?? "").sort();
}

describe("createSecretStateStore", () => {
  it("round-trips a state through an identity Secret and one labelled Secret per app", async () => {
    const kube = createFakeKube();
    await createSecretStateStore(kube, "flotilla-system").save(sampleState());
    const names = secretNames(kube);
    assert.equal(names.length, 3);
    assert.ok(names.includes("flotilla-agent-identity"));
    const appSecrets = [...kube.secrets.values()].filter((s) =>
      s.metadata.name?.startsWith("flotilla-agent-app-"),
    );
    assert.deepEqual(appSecrets.map((s) => s.metadata.annotations?.["flotilla.dev/app-name"]).sort(), [
      "db",
      "web",
    ]);
    for (const secret of kube.secrets.values()) {
      assert.match(secret.metadata.name ?? "", /^flotilla-agent-(identity|app-[0-9a-f]{16})$/);
      assert.equal(secret.metadata.namespace, "flotilla-system");
      assert.deepEqual(secret.metadata.labels, { "flotilla.dev/agent-state": "true" });
    }
    assert.deepEqual(await createSecretStateStore(kube, "flotilla-system").load(), sampleState());
  });

  it("makes no write when saving an unchanged state, and one write per changed app", async () => {
    const kube = createFakeKube();
    await createSecretStateStore(kube, "flotilla-system").save(sampleState());
    const store = createSecretStateStore(kube, "flotilla-system");
    const state = await store.load();
    const before = kube.requestCounts().writes;
    await store.save(state);
    await store.save(sampleState());
    assert.equal(kube.requestCounts().writes, before);

    const changed = sampleState();
    changed.apps.web = { ...appRecord("web"), syncedDigest: "sha256:new" };
    await store.save(changed);
    assert.equal(kube.requestCounts().writes, before + 1);
    assert.deepEqual(await createSecretStateStore(kube, "flotilla-system").load(), changed);
  });

  it("deletes the Secrets of apps no longer present and of a dropped identity", async () => {
    const kube = createFakeKube();
    const store = createSecretStateStore(kube, "flotilla-system");
    await store.save(sampleState());
    await store.save({ apps: { web: appRecord("web") } });
    assert.equal(kube.secrets.size, 1);
    assert.deepEqual(await createSecretStateStore(kube, "flotilla-system").load(), {
      apps: { web: appRecord("web") },
    });
  });

  it("lists before its first save, so a fresh store still deletes stale Secrets", async () => {
    const kube = createFakeKube();
    await createSecretStateStore(kube, "flotilla-system").save(sampleState());
    await createSecretStateStore(kube, "flotilla-system").save({ apps: { db: appRecord("db") } });
    assert.deepEqual(await createSecretStateStore(kube, "flotilla-system").load(), {
      apps: { db: appRecord("db") },
    });
  });

  it("ignores Secrets without the label or with another prefix", async () => {
    const kube = createFakeKube();
    await createSecretStateStore(kube, "flotilla-system", "other-agent").save(sampleState());
    kube.secrets.set("flotilla-system/flotilla-agent-app-unlabelled", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "flotilla-agent-app-unlabelled", namespace: "flotilla-system" },
      data: { "state.json.gz": "garbage" },
    });
    const store = createSecretStateStore(kube, "flotilla-system");
    assert.deepEqual(await store.load(), { apps: {} });
    await store.save({ apps: {} });
    assert.equal(kube.secrets.size, 4, "other agents' Secrets and unlabelled ones are left alone");
  });

  it("rejects a corrupt Secret naming it, instead of starting empty", async () => {
    const kube = createFakeKube();
    await createSecretStateStore(kube, "flotilla-system").save({ apps: { web: appRecord("web") } });
    const [secret] = kube.secrets.values();
    assert.ok(secret);
    secret.data = { "state.json.gz": Buffer.from("not gzip").toString("base64") };
    await assert.rejects(
      createSecretStateStore(kube, "flotilla-system").load(),
      new RegExp(`^Error: Secret/flotilla-system/${secret.metadata.name}: corrupt agent state: `),
    );
  });

  it("refuses an app record over 900 KiB compressed and still saves the others", async () => {
    const kube = createFakeKube();
    const huge: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "huge" },
      data: { blob: randomBytes(MAX_APP_RECORD_COMPRESSED_BYTES).toString("base64") },
    };
    const state: AgentState = { apps: { big: appRecord("big", [huge]), web: appRecord("web") } };
    await assert.rejects(
      createSecretStateStore(kube, "flotilla-system").save(state),
      /^Error: secrets:\/\/flotilla-system\/flotilla-agent: cannot save agent state: app "big": state is \d+ bytes compressed, over the 921600-byte limit of a state Secret$/,
    );
    assert.deepEqual(await createSecretStateStore(kube, "flotilla-system").load(), {
      apps: { web: appRecord("web") },
    });
  });
});
