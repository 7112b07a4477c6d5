import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import type { DesiredApp } from "@flotilla/agent/desired/desired-app";
import {
  type AgentState,
  type AppRecord,
  createSecretStateStore,
  MAX_APP_RECORD_COMPRESSED_BYTES,
} from "@flotilla/agent/desired/state-store";
import { createKubeClient } from "@flotilla/agent/kube/create-kube-client";
import type { KubeClient } from "@flotilla/agent/kube/kube-client";
import type { KubeObject } from "@flotilla/agent/kube/kube-object";
import { loadKubeConfig } from "@flotilla/agent/kube/load-kube-config";
import { useClusters } from "./harness/cluster.js";

const clusters = useClusters(1);

function connect(): KubeClient {
  const [cluster] = clusters();
  assert.ok(cluster);
  return createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
}

let nextNamespace = 0;
/** A fresh namespace per test, so tests do not see each other's Secrets. */
async function createNamespace(kube: KubeClient): Promise<string> {
  nextNamespace += 1;
  const name = `agent-state-${nextNamespace}`;
  await kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } }, { fieldManager: "test" });
  return name;
}

function appRecord(name: string, objects: KubeObject[] = []): AppRecord {
  const desired: DesiredApp = {
    name,
    namespace: "default",
    revision: "dir:0123456789ab",
    digest: `sha256:${name}`,
    syncPolicy: { automated: { prune: true, selfHeal: true, allowEmpty: false }, syncOptions: [] },
    ignoreDifferences: [],
    objects,
  };
  return {
    desired,
    syncedDigest: desired.digest,
    inventory: [{ apiVersion: "v1", key: { group: "", kind: "ConfigMap", namespace: "default", name } }],
  };
}

function sampleState(): AgentState {
  return {
    identity: {
      clusterName: "edge-1",
      hubUrl: "https://hub.example:8443",
      credential: "not-a-real-token",
      caHash: "sha256:00",
    },
    apps: { web: appRecord("web"), db: appRecord("db") },
  };
}

async function stateSecrets(kube: KubeClient, namespace: string): Promise<KubeObject[]> {
  const { items } = await kube.list(await kube.resourceFor("v1", "Secret"), namespace);
  return items.filter((s) => s.metadata.labels?.["flotilla.dev/agent-state"] === "true");
}

describe("createSecretStateStore against a real API server", () => {
  it("round-trips a state through labelled, gzip-compressed Secrets", async () => {
    const kube = connect();
    const namespace = await createNamespace(kube);
    await createSecretStateStore(kube, namespace).save(sampleState());

    const secrets = await stateSecrets(kube, namespace);
    assert.deepEqual(secrets.map((s) => s.metadata.name?.replace(/[0-9a-f]{16}$/, "<hash>")).sort(), [
      "flotilla-agent-app-<hash>",
      "flotilla-agent-app-<hash>",
      "flotilla-agent-identity",
    ]);
    const web = secrets.find((s) => s.metadata.annotations?.["flotilla.dev/app-name"] === "web");
    const data = (web?.data as Record<string, string> | undefined)?.["state.json.gz"] ?? "";
    assert.deepEqual(JSON.parse(gunzipSync(Buffer.from(data, "base64")).toString("utf8")), appRecord("web"));

    assert.deepEqual(await createSecretStateStore(connect(), namespace).load(), sampleState());
  });

  it("makes zero writes when saving a state that did not change", async () => {
    const kube = connect();
    const namespace = await createNamespace(kube);
    await createSecretStateStore(kube, namespace).save(sampleState());

    const restarted = connect();
    const store = createSecretStateStore(restarted, namespace);
    const state = await store.load();
    await store.save(state);
    await store.save(sampleState());
    assert.equal(restarted.requestCounts().writes, 0);

    state.apps.web = { ...appRecord("web"), syncedDigest: "sha256:newer" };
    await store.save(state);
    assert.equal(restarted.requestCounts().writes, 1, "only the changed app's Secret is written");
    assert.equal(
      (await createSecretStateStore(kube, namespace).load()).apps.web?.syncedDigest,
      "sha256:newer",
    );
  });

  it("deletes the Secret of an app that is no longer present", async () => {
    const kube = connect();
    const namespace = await createNamespace(kube);
    const store = createSecretStateStore(kube, namespace);
    await store.save(sampleState());
    const dbSecret = (await stateSecrets(kube, namespace)).find(
      (s) => s.metadata.annotations?.["flotilla.dev/app-name"] === "db",
    );
    assert.ok(dbSecret?.metadata.name);

    const withoutDb = sampleState();
    delete withoutDb.apps.db;
    await store.save(withoutDb);
    const key = { group: "", kind: "Secret", namespace, name: dbSecret.metadata.name };
    assert.equal(await kube.get("v1", key), undefined);
    assert.deepEqual(await createSecretStateStore(kube, namespace).load(), withoutDb);
  });

  it("stores a record just under the compressed limit, which the API server accepts", async () => {
    const kube = connect();
    const namespace = await createNamespace(kube);
    // Base64 of random bytes carries 6 bits a character, so gzip keeps about 76% of it: this
    // record compresses to about 850 KiB, near the 900 KiB the store allows.
    const blob = randomBytes(Math.floor(1.1 * 1024 * 1024 * 0.75)).toString("base64");
    const big: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "big" },
      data: { blob },
    };
    const state: AgentState = { apps: { big: appRecord("big", [big]) } };
    await createSecretStateStore(kube, namespace).save(state);
    const [secret] = await stateSecrets(kube, namespace);
    const size = Buffer.from(
      (secret?.data as Record<string, string> | undefined)?.["state.json.gz"] ?? "",
      "base64",
    ).length;
    assert.ok(size > 800 * 1024 && size <= MAX_APP_RECORD_COMPRESSED_BYTES, `compressed size ${size}`);
    assert.deepEqual(await createSecretStateStore(kube, namespace).load(), state);
  });
});
