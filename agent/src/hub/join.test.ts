import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { gunzipSync } from "node:zlib";
import { GrpcError } from "@flotilla/proto/grpc";
import { createTestTls, type TestTls } from "@flotilla/proto/test-tls";
import { createFileStateStore } from "../desired/state-store.js";
import { useFakeHub } from "./fake-hub.js";
import { caHashOf, type JoinOptions, joinHub } from "./join.js";

const timeout = 20_000;
let tls: TestTls;
let otherTls: TestTls;

before(async () => {
  [tls, otherTls] = await Promise.all([createTestTls(), createTestTls()]);
});

const kube: JoinOptions["kube"] = {
  server: "https://10.0.0.1:6443",
  async get() {
    return { apiVersion: "v1", kind: "Namespace", metadata: { name: "kube-system", uid: "uid-kube-system" } };
  },
  async serverVersion() {
    return "v1.31.2";
  },
};

async function useStatePath(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-join-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, "state.json.gz");
}

describe("joinHub", () => {
  it("refuses a hub whose CA does not match --ca-hash, without sending the token", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const path = await useStatePath(t);
    await assert.rejects(
      joinHub({
        hubUrl: hub.hubUrl,
        grpcAddress: hub.grpcAddress,
        token: "flb_abc.secret",
        caHash: caHashOf(otherTls.caPem),
        clusterName: "edge-1",
        kube,
        store: createFileStateStore(path),
      }),
      (error: Error) => {
        assert.match(error.message, /its CA certificate has hash sha256:[0-9a-f]{64}, not the expected/);
        assert.match(error.message, /the token was not sent/);
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
    assert.equal(hub.registerCalls.length, 0);
    assert.deepEqual(await createFileStateStore(path).load(), { apps: {} });
  });

  it("registers with the cluster's uid and persists the identity with the CA", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const path = await useStatePath(t);
    const result = await joinHub({
      hubUrl: hub.hubUrl,
      grpcAddress: hub.grpcAddress,
      token: "flb_abc.secret",
      caHash: caHashOf(tls.caPem).toUpperCase().replace("SHA256", "sha256"),
      clusterName: "edge-1",
      labels: { env: "prod" },
      kube,
      store: createFileStateStore(path),
      agentVersion: "0.1.0",
    });

    assert.deepEqual(result, {
      clusterName: "edge-1",
      clusterId: "c-1",
      labels: { env: "prod" },
      hubVersion: "0.1.0",
    });
    const [request] = hub.registerCalls;
    assert.equal(request?.bootstrapToken, "flb_abc.secret");
    assert.equal(request?.clusterUid, "uid-kube-system");
    assert.equal(request?.kubeVersion, "v1.31.2");
    assert.equal(request?.serverUrl, "https://10.0.0.1:6443");
    assert.deepEqual(request?.labels, { env: "prod" });
    const state = await createFileStateStore(path).load();
    assert.deepEqual(state.identity, {
      clusterName: "edge-1",
      hubUrl: hub.hubUrl,
      credential: "cred-1",
      caHash: caHashOf(tls.caPem),
      caCertPem: state.identity?.caCertPem,
      grpcAddress: hub.grpcAddress,
    });
    assert.equal(caHashOf(state.identity?.caCertPem ?? ""), caHashOf(tls.caPem));
    assert.doesNotMatch(gunzipSync(await readFile(path)).toString(), /flb_abc/);
  });

  it("says what to do when the hub refuses the token or the name", { timeout }, async (t) => {
    const hub = await useFakeHub(t, tls);
    const path = await useStatePath(t);
    const options = {
      hubUrl: hub.hubUrl,
      grpcAddress: hub.grpcAddress,
      token: "flb_abc.secret",
      caHash: caHashOf(tls.caPem),
      clusterName: "edge-1",
      kube,
      store: createFileStateStore(path),
    };
    hub.register = () => {
      throw new GrpcError("UNAUTHENTICATED", "token expired");
    };
    await assert.rejects(
      joinHub(options),
      /refused the bootstrap token \(token expired\).*flotilla cluster token create/,
    );
    hub.register = () => {
      throw new GrpcError("ALREADY_EXISTS", "cluster edge-1 has another uid");
    };
    await assert.rejects(joinHub(options), /the name "edge-1" belongs to another cluster.*another --name/);
    assert.equal((await createFileStateStore(path).load()).identity, undefined);
  });
});
