/**
 * The behaviour every Store must show, registered as node:test suites so PGlite
 * (open-store.test.ts) and a real PostgreSQL (e2e/src/hub-store.test.ts) run the same cases.
 * Test-only: excluded from the build.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Store, TargetInput } from "./store.js";

/** Opens a Store on one database; callable again after `close()` (a restart). */
export type OpenOnDatabase = (options?: { now?: () => Date }) => Promise<Store>;

/** Creates a new, empty database (not yet migrated) and returns how to open it. */
export type NewDatabase = () => Promise<OpenOnDatabase>;

type StoreFixture = {
  store(): Store;
  /** Moves the store's clock forward. */
  advanceClock(ms: number): void;
  /** Closes the store and opens the same database again. */
  restart(): Promise<Store>;
};

const HOUR_MS = 3_600_000;

export function describeStoreContract(label: string, newDatabase: NewDatabase): void {
  /** A store on a database of its own, for the surrounding describe. */
  function useStore(): StoreFixture {
    let open: OpenOnDatabase | undefined;
    let current: Store | undefined;
    let offsetMs = 0;
    const now = () => new Date(Date.now() + offsetMs);
    before(async () => {
      open = await newDatabase();
      current = await open({ now });
    });
    after(async () => {
      await current?.close();
    });
    return {
      store: () => {
        if (!current) throw new Error("useStore: the store exists only inside the suite's tests");
        return current;
      },
      advanceClock: (ms) => {
        offsetMs += ms;
      },
      restart: async () => {
        if (!open || !current) throw new Error("useStore: restart outside the suite's tests");
        await current.close();
        current = await open({ now });
        return current;
      },
    };
  }

  async function addCluster(store: Store, name = `c-${randomUUID().slice(0, 8)}`) {
    const created = await store.clusters.create({ id: randomUUID(), name, clusterUid: randomUUID() });
    assert.ok(created.ok);
    return created.cluster;
  }

  const target = (app: string, digest: string): TargetInput => ({
    app,
    digest,
    bundleDigest: `b-${digest}`,
    desired: { namespace: app, project: "default", revision: "abc123" },
  });

  describe(`${label}: migrations`, () => {
    const fixture = useStore();

    it("keeps every row across a restart and migrates an up-to-date database without change", async () => {
      const cluster = await addCluster(fixture.store(), "survivor");
      await fixture.store().targets.apply(cluster.id, [target("web", "d1")]);
      const reopened = await fixture.restart();
      assert.equal((await reopened.clusters.getByName("survivor"))?.id, cluster.id);
      assert.deepEqual(
        (await reopened.targets.list(cluster.id)).map((t) => [t.app, t.seq]),
        [["web", 1]],
      );
      const again = await fixture.restart();
      assert.equal((await again.clusters.list()).length, 1);
    });
  });

  describe(`${label}: clusters`, () => {
    const fixture = useStore();

    it("creates a Pending cluster found by id, name and cluster uid", async () => {
      const store = fixture.store();
      const created = await store.clusters.create({
        id: randomUUID(),
        name: "east",
        clusterUid: "uid-east",
        serverUrl: "https://east:6443",
        labels: { env: "prod" },
      });
      assert.ok(created.ok);
      assert.equal(created.cluster.state, "Pending");
      assert.equal(created.cluster.desiredSeq, 0);
      assert.equal(created.cluster.lastSeenAt, null);
      assert.ok(created.cluster.createdAt instanceof Date);
      assert.deepEqual(await store.clusters.get(created.cluster.id), created.cluster);
      assert.deepEqual(await store.clusters.getByName("east"), created.cluster);
      assert.deepEqual(await store.clusters.getByUid("uid-east"), created.cluster);
      assert.equal(await store.clusters.get(randomUUID()), undefined);
    });

    it("refuses a taken name and a taken cluster uid", async () => {
      const store = fixture.store();
      await store.clusters.create({ id: randomUUID(), name: "west", clusterUid: "uid-west" });
      assert.deepEqual(await store.clusters.create({ id: randomUUID(), name: "west", clusterUid: "other" }), {
        ok: false,
        reason: "name-taken",
      });
      assert.deepEqual(
        await store.clusters.create({ id: randomUUID(), name: "west2", clusterUid: "uid-west" }),
        {
          ok: false,
          reason: "uid-taken",
        },
      );
    });

    it("lists clusters ordered by name", async () => {
      const names = (await fixture.store().clusters.list()).map((c) => c.name);
      assert.deepEqual(names, [...names].sort());
      assert.ok(names.includes("east") && names.includes("west"));
    });

    it("sets and removes labels, keeping the others", async () => {
      const store = fixture.store();
      const cluster = await store.clusters.create({
        id: randomUUID(),
        name: "labelled",
        clusterUid: "uid-labelled",
        labels: { env: "dev", tier: "1", region: "eu" },
      });
      assert.ok(cluster.ok);
      const updated = await store.clusters.updateLabels(cluster.cluster.id, { env: "prod", tier: null });
      assert.deepEqual(updated?.labels, { env: "prod", region: "eu" });
      assert.equal(await store.clusters.updateLabels(randomUUID(), { a: "b" }), undefined);
    });

    it("turns a cluster Disconnected only when it is Connected and silent since before the cutoff", async () => {
      const store = fixture.store();
      const created = await store.clusters.create({
        id: randomUUID(),
        name: "silent",
        clusterUid: randomUUID(),
      });
      assert.ok(created.ok);
      const id = created.cluster.id;
      const cutoff = new Date(Date.now() - 60_000);
      assert.equal(await store.clusters.markDisconnectedIfSilent(id, cutoff), false, "Pending stays Pending");
      await store.clusters.setState(id, "Connected");
      await store.clusters.markSeen(id, new Date());
      assert.equal(await store.clusters.markDisconnectedIfSilent(id, cutoff), false, "seen after the cutoff");
      await store.clusters.markSeen(id, new Date(cutoff.getTime() - 1_000));
      assert.equal(await store.clusters.markDisconnectedIfSilent(id, cutoff), true);
      assert.equal((await store.clusters.get(id))?.state, "Disconnected");
    });

    it("records last seen, state and what the agent reports about itself", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      const seen = new Date("2030-01-02T03:04:05.678Z");
      await store.clusters.markSeen(cluster.id, seen);
      await store.clusters.setState(cluster.id, "Connected");
      await store.clusters.updateInfo(cluster.id, { kubeVersion: "v1.31.0", agentVersion: "0.1.0" });
      const got = await store.clusters.get(cluster.id);
      assert.deepEqual(got?.lastSeenAt, seen);
      assert.equal(got?.state, "Connected");
      assert.equal(got?.kubeVersion, "v1.31.0");
      assert.equal(got?.agentVersion, "0.1.0");
    });

    it("removes a cluster with its credentials, targets, statuses and sync requests but keeps its events", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      await store.credentials.add({ id: "cred-rm", clusterId: cluster.id, secret: "s" });
      await store.targets.apply(cluster.id, [target("web", "d1")]);
      await store.statuses.upsert(status(cluster.id, "web"));
      await store.syncRequests.add({ clusterId: cluster.id, app: "web", requestId: "req-rm" });
      await store.events.append({ clusterId: cluster.id, type: "ClusterRegistered" });
      assert.equal(await store.clusters.remove(cluster.id), true);
      assert.equal(await store.clusters.remove(cluster.id), false);
      assert.equal(await store.clusters.get(cluster.id), undefined);
      assert.deepEqual(await store.credentials.verify("cred-rm", "s"), { ok: false, reason: "unknown" });
      assert.deepEqual(await store.targets.list(cluster.id), []);
      assert.deepEqual(await store.statuses.list(cluster.id), []);
      assert.deepEqual(await store.syncRequests.listPending(cluster.id), []);
      assert.equal((await store.events.list({ clusterId: cluster.id })).events.length, 1);
    });
  });

  describe(`${label}: bootstrap tokens`, () => {
    const fixture = useStore();

    it("counts each use and refuses the token once its uses are spent", async () => {
      const store = fixture.store();
      const token = await store.bootstrapTokens.create({
        id: "two",
        secret: "s3cret",
        maxUses: 2,
        labels: { a: "b" },
      });
      assert.equal(token.uses, 0);
      assert.equal("secretHash" in token, false);
      const first = await store.bootstrapTokens.consume("two", "s3cret");
      assert.ok(first.ok);
      assert.equal(first.token.uses, 1);
      assert.deepEqual(first.token.labels, { a: "b" });
      assert.ok((await store.bootstrapTokens.consume("two", "s3cret")).ok);
      assert.deepEqual(await store.bootstrapTokens.consume("two", "s3cret"), {
        ok: false,
        reason: "used-up",
      });
      assert.equal((await store.bootstrapTokens.get("two"))?.uses, 2);
    });

    it("refuses an unknown id and a wrong secret alike, without counting a use", async () => {
      const store = fixture.store();
      await store.bootstrapTokens.create({ id: "guarded", secret: "right" });
      assert.deepEqual(await store.bootstrapTokens.consume("nope", "right"), {
        ok: false,
        reason: "unknown",
      });
      assert.deepEqual(await store.bootstrapTokens.consume("guarded", "wrong"), {
        ok: false,
        reason: "unknown",
      });
      assert.equal((await store.bootstrapTokens.get("guarded"))?.uses, 0);
    });

    it("refuses a token past its expiry", async () => {
      const store = fixture.store();
      await store.bootstrapTokens.create({
        id: "brief",
        secret: "s",
        expiresAt: new Date(Date.now() + HOUR_MS),
      });
      assert.ok((await store.bootstrapTokens.consume("brief", "s")).ok);
      fixture.advanceClock(2 * HOUR_MS);
      assert.deepEqual(await store.bootstrapTokens.consume("brief", "s"), { ok: false, reason: "expired" });
    });

    it("refuses a revoked token, and revokes only once", async () => {
      const store = fixture.store();
      await store.bootstrapTokens.create({ id: "revoked", secret: "s" });
      assert.equal(await store.bootstrapTokens.revoke("revoked"), true);
      assert.equal(await store.bootstrapTokens.revoke("revoked"), false);
      assert.deepEqual(await store.bootstrapTokens.consume("revoked", "s"), { ok: false, reason: "revoked" });
      assert.ok((await store.bootstrapTokens.get("revoked"))?.revokedAt instanceof Date);
    });

    it("lets exactly one of many concurrent callers consume a single-use token", async () => {
      const store = fixture.store();
      await store.bootstrapTokens.create({ id: "once", secret: "s", maxUses: 1 });
      const results = await Promise.all(
        Array.from({ length: 12 }, () => store.bootstrapTokens.consume("once", "s")),
      );
      assert.equal(results.filter((r) => r.ok).length, 1);
      assert.ok(results.every((r) => r.ok || r.reason === "used-up"));
      assert.equal((await store.bootstrapTokens.get("once"))?.uses, 1);
    });

    it("lists every token, newest first", async () => {
      const ids = (await fixture.store().bootstrapTokens.list()).map((t) => t.id);
      assert.ok(["two", "guarded", "brief", "revoked", "once"].every((id) => ids.includes(id)));
    });
  });

  describe(`${label}: registration`, () => {
    const fixture = useStore();

    it("creates the cluster with the token's labels over the agent's and a working credential", async () => {
      const store = fixture.store();
      await store.bootstrapTokens.create({ id: "join", secret: "s", labels: { env: "prod" } });
      const result = await store.clusters.register({
        token: { id: "join", secret: "s" },
        cluster: {
          id: randomUUID(),
          name: "joined",
          clusterUid: "uid-joined",
          labels: { env: "dev", team: "a" },
        },
        credential: { id: "cred-joined", secret: "c" },
      });
      assert.ok(result.ok);
      assert.equal(result.rejoined, false);
      assert.deepEqual(result.cluster.labels, { env: "prod", team: "a" });
      assert.deepEqual(await store.credentials.verify("cred-joined", "c"), {
        ok: true,
        clusterId: result.cluster.id,
      });
      assert.equal((await store.bootstrapTokens.get("join"))?.uses, 1);
    });

    it("keeps the id and name of a cluster that joins again with the same cluster uid", async () => {
      const store = fixture.store();
      const first = await store.clusters.getByUid("uid-joined");
      const again = await store.clusters.register({
        token: { id: "join", secret: "s" },
        cluster: { id: randomUUID(), name: "renamed", clusterUid: "uid-joined", kubeVersion: "v1.32.0" },
        credential: { id: "cred-joined-2", secret: "c2" },
      });
      assert.ok(again.ok);
      assert.equal(again.rejoined, true);
      assert.equal(again.cluster.id, first?.id);
      assert.equal(again.cluster.name, "joined");
      assert.equal(again.cluster.kubeVersion, "v1.32.0");
      const credentials = await store.credentials.listForCluster(again.cluster.id);
      assert.equal(credentials.length, 2);
      assert.deepEqual(
        credentials.filter((c) => c.revokedAt === null).map((c) => c.id),
        ["cred-joined-2"],
        "joining again revokes the credentials the cluster had",
      );
      assert.deepEqual(await store.credentials.verify("cred-joined-2", "c2"), {
        ok: true,
        clusterId: first?.id,
      });
    });

    it("refuses a taken name without using the token", async () => {
      const store = fixture.store();
      await store.bootstrapTokens.create({ id: "single", secret: "s", maxUses: 1 });
      const result = await store.clusters.register({
        token: { id: "single", secret: "s" },
        cluster: { id: randomUUID(), name: "joined", clusterUid: "uid-other" },
        credential: { id: "cred-other", secret: "c" },
      });
      assert.deepEqual(result, { ok: false, reason: "name-taken" });
      assert.equal((await store.bootstrapTokens.get("single"))?.uses, 0);
      assert.equal(await store.clusters.getByUid("uid-other"), undefined);
    });

    it("creates nothing with a refused token", async () => {
      const store = fixture.store();
      const result = await store.clusters.register({
        token: { id: "single", secret: "wrong" },
        cluster: { id: randomUUID(), name: "intruder", clusterUid: "uid-intruder" },
        credential: { id: "cred-intruder", secret: "c" },
      });
      assert.deepEqual(result, { ok: false, reason: "unknown" });
      assert.equal(await store.clusters.getByName("intruder"), undefined);
      assert.deepEqual(await store.credentials.verify("cred-intruder", "c"), {
        ok: false,
        reason: "unknown",
      });
    });
  });

  describe(`${label}: credentials and API tokens`, () => {
    const fixture = useStore();

    it("keeps the old credential working until the rotation's deadline", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      await store.credentials.add({ id: "old", clusterId: cluster.id, secret: "o" });
      await store.credentials.add({
        id: "new",
        clusterId: cluster.id,
        secret: "n",
        retireOthersAt: new Date(Date.now() + HOUR_MS),
      });
      assert.deepEqual(await store.credentials.verify("old", "o"), { ok: true, clusterId: cluster.id });
      assert.deepEqual(await store.credentials.verify("old", "n"), { ok: false, reason: "unknown" });
      fixture.advanceClock(2 * HOUR_MS);
      assert.deepEqual(await store.credentials.verify("old", "o"), { ok: false, reason: "expired" });
      assert.deepEqual(await store.credentials.verify("new", "n"), { ok: true, clusterId: cluster.id });
      assert.equal(await store.credentials.revoke("new"), true);
      assert.equal(await store.credentials.revoke("new"), false);
      assert.deepEqual(await store.credentials.verify("new", "n"), { ok: false, reason: "revoked" });
      const listed = await store.credentials.listForCluster(cluster.id);
      assert.deepEqual(listed.map((c) => c.id).sort(), ["new", "old"]);
      assert.ok(listed.every((c) => !("secretHash" in c)));
    });

    it("verifies API tokens by secret and refuses revoked ones", async () => {
      const store = fixture.store();
      const created = await store.apiTokens.create({
        id: "view",
        name: "ci",
        secret: "v",
        role: "viewer",
        clusterSelector: "env=prod",
      });
      assert.equal(created.role, "viewer");
      const verified = await store.apiTokens.verify("view", "v");
      assert.deepEqual(verified, { ok: true, token: created });
      assert.deepEqual(await store.apiTokens.verify("view", "x"), { ok: false, reason: "unknown" });
      assert.deepEqual(
        (await store.apiTokens.list()).map((t) => t.name),
        ["ci"],
      );
      assert.equal(await store.apiTokens.revoke("view"), true);
      assert.deepEqual(await store.apiTokens.verify("view", "v"), { ok: false, reason: "revoked" });
    });
  });

  describe(`${label}: sources and bundles`, () => {
    const fixture = useStore();

    it("adds a source, refuses a duplicate and returns its webhook secret only on request", async () => {
      const store = fixture.store();
      const added = await store.sources.add({
        id: "infra",
        repoUrl: "https://git.example/infra.git",
        path: "apps",
        pollIntervalMs: 30_000,
        webhookSecret: "hook",
      });
      assert.ok(added.ok);
      assert.equal(added.source.hasWebhookSecret, true);
      assert.equal(added.source.targetRevision, "HEAD");
      assert.equal("webhookSecret" in added.source, false);
      assert.deepEqual(
        await store.sources.add({
          id: "again",
          repoUrl: "https://git.example/infra.git",
          path: "apps",
          pollIntervalMs: 1,
        }),
        { ok: false, reason: "exists" },
      );
      assert.deepEqual(await store.sources.list(), [added.source]);
      assert.deepEqual(await store.sources.get("infra"), added.source);
      assert.equal(await store.sources.getWebhookSecret("infra"), "hook");
      assert.equal(await store.sources.remove("infra"), true);
      assert.equal(await store.sources.getWebhookSecret("infra"), null);
    });

    it("replaces a source's resolution, and drops it with the source", async () => {
      const store = fixture.store();
      const added = await store.sources.add({
        id: "fleet",
        repoUrl: "https://git.example/fleet.git",
        pollIntervalMs: 1,
      });
      assert.ok(added.ok);
      const fetchedAt = new Date("2026-01-02T03:04:05.000Z");
      await store.sources.putResolution({
        sourceId: "fleet",
        revision: "a1",
        fetchedAt,
        error: "",
        apps: [{ name: "x" }],
      });
      await store.sources.putResolution({
        sourceId: "fleet",
        revision: "b2",
        fetchedAt,
        error: "boom",
        apps: [],
      });
      // A resolution of a source removed meanwhile is ignored, not an error.
      await store.sources.putResolution({
        sourceId: "gone",
        revision: "c3",
        fetchedAt: null,
        error: "",
        apps: [],
      });
      const [resolution, ...rest] = await store.sources.listResolutions();
      assert.deepEqual(rest, []);
      assert.equal(resolution?.revision, "b2");
      assert.equal(resolution?.error, "boom");
      assert.deepEqual(resolution?.apps, []);
      assert.equal(resolution?.fetchedAt?.toISOString(), fetchedAt.toISOString());
      await store.sources.remove("fleet");
      assert.deepEqual(await store.sources.listResolutions(), []);
    });

    it("stores a bundle once by digest and returns its bytes", async () => {
      const store = fixture.store();
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      assert.equal(
        await store.bundles.put({ digest: "sha256:aa", encoding: "gzip+json", bytes, objectCount: 3 }),
        true,
      );
      assert.equal(
        await store.bundles.put({
          digest: "sha256:aa",
          encoding: "json",
          bytes: new Uint8Array([9]),
          objectCount: 1,
        }),
        false,
      );
      const got = await store.bundles.get("sha256:aa");
      assert.deepEqual(got, { digest: "sha256:aa", encoding: "gzip+json", bytes, objectCount: 3 });
      assert.equal(await store.bundles.has("sha256:aa"), true);
      assert.equal(await store.bundles.has("sha256:bb"), false);
      assert.equal(await store.bundles.get("sha256:bb"), undefined);
    });

    it("prunes only bundles no target refers to", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      const bytes = new Uint8Array([1]);
      await store.bundles.put({ digest: "b-used", encoding: "json", bytes, objectCount: 1 });
      await store.bundles.put({ digest: "b-orphan", encoding: "json", bytes, objectCount: 1 });
      await store.targets.apply(cluster.id, [target("web", "used")]);
      const pruned = await store.bundles.pruneUnreferenced(new Date(Date.now() + HOUR_MS));
      assert.equal(pruned, 2); // b-orphan and sha256:aa from the previous test
      assert.equal(await store.bundles.has("b-used"), true);
      assert.equal(await store.bundles.has("b-orphan"), false);
    });
  });

  describe(`${label}: targets`, () => {
    const fixture = useStore();

    it("assigns increasing seqs in app order to every app of the first apply", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store, "seq");
      const result = await store.targets.apply(cluster.id, [target("web", "w1"), target("api", "a1")]);
      assert.deepEqual(
        result.changed.map((t) => [t.app, t.seq]),
        [
          ["api", 1],
          ["web", 2],
        ],
      );
      assert.deepEqual(result.removed, []);
      assert.equal((await store.clusters.get(cluster.id))?.desiredSeq, 2);
      const listed = await store.targets.list(cluster.id);
      assert.deepEqual(listed[0]?.desired, target("api", "a1").desired);
      assert.equal(listed[0]?.bundleDigest, "b-a1");
    });

    it("changes nothing when every digest is the same", async () => {
      const store = fixture.store();
      const cluster = await store.clusters.getByName("seq");
      assert.ok(cluster);
      const result = await store.targets.apply(cluster.id, [target("api", "a1"), target("web", "w1")]);
      assert.deepEqual(result, { changed: [], removed: [] });
      assert.equal((await store.clusters.get(cluster.id))?.desiredSeq, 2);
    });

    it("gives a changed app and a removed app the next seqs and keeps the removal until it is acked", async () => {
      const store = fixture.store();
      const cluster = await store.clusters.getByName("seq");
      assert.ok(cluster);
      const result = await store.targets.apply(cluster.id, [target("web", "w2")]);
      assert.deepEqual(
        result.changed.map((t) => [t.app, t.seq, t.digest]),
        [["web", 3, "w2"]],
      );
      assert.deepEqual(result.removed, [{ app: "api", seq: 4 }]);
      const listed = await store.targets.list(cluster.id);
      assert.deepEqual(
        listed.map((t) => [t.app, t.seq, t.removed]),
        [
          ["web", 3, false],
          ["api", 4, true],
        ],
      );
      assert.deepEqual(await store.targets.apply(cluster.id, [target("web", "w2")]), {
        changed: [],
        removed: [],
      });
    });

    it("lists unacked targets and forgets an acked removal", async () => {
      const store = fixture.store();
      const cluster = await store.clusters.getByName("seq");
      assert.ok(cluster);
      assert.deepEqual(
        (await store.targets.listUnacked(cluster.id)).map((t) => t.app),
        ["web", "api"],
      );
      assert.equal(await store.targets.markAcked(cluster.id, "web", 2), true);
      assert.deepEqual(
        (await store.targets.listUnacked(cluster.id)).map((t) => t.app),
        ["web", "api"],
        "an ack of an older seq leaves the newer change unacked",
      );
      assert.equal(await store.targets.markAcked(cluster.id, "web", 3), true);
      assert.equal(await store.targets.markAcked(cluster.id, "api", 4), true);
      assert.deepEqual(await store.targets.listUnacked(cluster.id), []);
      assert.deepEqual(
        (await store.targets.list(cluster.id)).map((t) => t.app),
        ["web"],
      );
      assert.equal(await store.targets.markAcked(cluster.id, "api", 4), false);
      assert.equal((await store.clusters.get(cluster.id))?.ackedSeq, 4);
      assert.equal(await store.targets.markAcked(cluster.id, "web", 1), true);
      assert.equal((await store.clusters.get(cluster.id))?.ackedSeq, 4, "acked seqs never go back");
    });

    it("brings back a removed app with a new seq", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      await store.targets.apply(cluster.id, [target("web", "w1")]);
      await store.targets.apply(cluster.id, []);
      const result = await store.targets.apply(cluster.id, [target("web", "w1")]);
      assert.deepEqual(
        result.changed.map((t) => [t.app, t.seq, t.removed]),
        [["web", 3, false]],
      );
      assert.deepEqual(
        (await store.targets.list(cluster.id)).map((t) => [t.app, t.removed]),
        [["web", false]],
      );
    });

    it("never repeats a seq under concurrent applies", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.targets.apply(cluster.id, [target("web", `w${i}`), target(`app${i}`, "x")]),
        ),
      );
      const seqs = results.flatMap((r) => [...r.changed.map((t) => t.seq), ...r.removed.map((r) => r.seq)]);
      assert.equal(new Set(seqs).size, seqs.length);
      assert.deepEqual(
        [...seqs].sort((a, b) => a - b),
        Array.from({ length: seqs.length }, (_, i) => i + 1),
      );
      assert.equal((await store.clusters.get(cluster.id))?.desiredSeq, seqs.length);
    });

    it("refuses targets for an unknown cluster and an app targeted twice", async () => {
      const store = fixture.store();
      await assert.rejects(store.targets.apply(randomUUID(), [target("web", "w")]), /no such cluster/);
      const cluster = await addCluster(store);
      await assert.rejects(
        store.targets.apply(cluster.id, [target("web", "a"), target("web", "b")]),
        /targeted twice/,
      );
      assert.deepEqual(await store.targets.list(cluster.id), []);
    });

    it("applies many clusters' targets in one call with each cluster's own seqs, and nothing when one is unknown", async () => {
      const store = fixture.store();
      const a = await addCluster(store);
      const b = await addCluster(store);
      const c = await addCluster(store);
      await store.targets.apply(a.id, [target("web", "w1"), target("old", "o1")]);
      const results = await store.targets.applyMany([
        { clusterId: a.id, next: [target("web", "w2")] },
        { clusterId: b.id, next: [target("web", "w2"), target("api", "a1")] },
        { clusterId: c.id, next: [] },
      ]);
      const summary = (id: string) => {
        const result = results.get(id);
        return [
          ...(result?.changed ?? []).map((t) => `${t.app}@${t.seq}`),
          ...(result?.removed ?? []).map((r) => `-${r.app}@${r.seq}`),
        ];
      };
      assert.deepEqual(summary(a.id), ["web@3", "-old@4"]);
      assert.deepEqual(summary(b.id), ["api@1", "web@2"]);
      assert.deepEqual(summary(c.id), []);
      assert.equal((await store.clusters.get(a.id))?.desiredSeq, 4);
      assert.equal((await store.clusters.get(b.id))?.desiredSeq, 2);
      assert.equal((await store.clusters.get(c.id))?.desiredSeq, 0);
      assert.deepEqual(
        (await store.targets.list(a.id)).map((t) => [t.app, t.digest, t.removed]),
        [
          ["web", "w2", false],
          ["old", "o1", true],
        ],
      );
      assert.deepEqual(
        await store.targets.applyMany([
          { clusterId: b.id, next: [target("api", "a1"), target("web", "w2")] },
        ]),
        new Map([[b.id, { changed: [], removed: [] }]]),
        "the same digests change nothing",
      );
      await assert.rejects(
        store.targets.applyMany([
          { clusterId: b.id, next: [target("web", "w3")] },
          { clusterId: randomUUID(), next: [target("web", "w3")] },
        ]),
        /no such cluster/,
      );
      assert.equal(
        (await store.targets.list(b.id)).find((t) => t.app === "web")?.digest,
        "w2",
        "a refused call writes nothing",
      );
      assert.equal((await store.clusters.get(b.id))?.desiredSeq, 2);
    });
  });

  describe(`${label}: statuses`, () => {
    const fixture = useStore();

    it("keeps the latest status per cluster and app", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store, "status-a");
      await store.statuses.upsert(status(cluster.id, "web", { health: "Progressing" }));
      await store.statuses.upsert(
        status(cluster.id, "web", {
          health: "Degraded",
          healthMessage: "Deployment/web: 0/2 ready",
          resources: [{ kind: "Deployment", name: "web" }],
          operation: { phase: "Succeeded" },
        }),
      );
      const got = await store.statuses.get(cluster.id, "web");
      assert.equal(got?.health, "Degraded");
      assert.equal(got?.healthMessage, "Deployment/web: 0/2 ready");
      assert.deepEqual(got?.resources, [{ kind: "Deployment", name: "web" }]);
      assert.deepEqual(got?.operation, { phase: "Succeeded" });
      assert.ok(got?.observedAt instanceof Date);
      assert.equal((await store.statuses.list(cluster.id)).length, 1);
    });

    it("marks a cluster's statuses stale until the next report", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store, "status-b");
      await store.statuses.upsert(status(cluster.id, "api"));
      await store.statuses.upsert(status(cluster.id, "web"));
      assert.equal(await store.statuses.markStale(cluster.id), 2);
      assert.ok((await store.statuses.list(cluster.id)).every((s) => s.stale));
      const other = await store.clusters.getByName("status-a");
      assert.equal((await store.statuses.get(other?.id ?? "", "web"))?.stale, false);
      await store.statuses.upsert(status(cluster.id, "web"));
      assert.equal((await store.statuses.get(cluster.id, "web"))?.stale, false);
      assert.deepEqual((await store.statuses.list()).map((s) => s.app).length, 3);
      assert.equal(await store.statuses.remove(cluster.id, "web"), true);
      assert.equal(await store.statuses.get(cluster.id, "web"), undefined);
    });

    it("upserts many statuses at once, the last report of an app winning, and clears stale", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store, "status-many");
      await store.statuses.upsert(status(cluster.id, "app-0000"));
      await store.statuses.markStale(cluster.id);
      const batch = Array.from({ length: 1_203 }, (_, i) =>
        status(cluster.id, `app-${String(i % 1_201).padStart(4, "0")}`, {
          health: i >= 1_201 ? "Degraded" : "Healthy",
          revision: `r${i}`,
          resources: [{ kind: "Deployment", name: `d${i}` }],
        }),
      );
      await store.statuses.upsertMany(batch);
      const listed = await store.statuses.list(cluster.id);
      assert.equal(listed.length, 1_201);
      const first = listed.find((s) => s.app === "app-0000");
      assert.equal(first?.health, "Degraded");
      assert.equal(first?.revision, "r1201");
      assert.equal(first?.stale, false);
      assert.deepEqual(first?.resources, [{ kind: "Deployment", name: "d1201" }]);
      assert.equal(listed.find((s) => s.app === "app-0002")?.health, "Healthy");
      await store.statuses.upsertMany([]);
      assert.equal((await store.statuses.list(cluster.id)).length, 1_201);
    });

    it("marks many clusters seen in one call and ignores unknown ids", async () => {
      const store = fixture.store();
      const a = await addCluster(store, "seen-a");
      const b = await addCluster(store, "seen-b");
      const at = new Date("2030-01-02T03:04:05.000Z");
      await store.clusters.markSeenMany([a.id, b.id, a.id, "no-such-cluster"], at);
      assert.equal((await store.clusters.get(a.id))?.lastSeenAt?.toISOString(), at.toISOString());
      assert.equal((await store.clusters.get(b.id))?.lastSeenAt?.toISOString(), at.toISOString());
      await store.clusters.markSeenMany([]);
    });
  });

  describe(`${label}: events in bulk`, () => {
    const fixture = useStore();

    it("appends many events in order", async () => {
      const store = fixture.store();
      await store.events.appendMany(
        Array.from({ length: 1_002 }, (_, i) => ({
          clusterId: "many",
          app: "web",
          type: "health-changed",
          message: `m${i}`,
          data: { i },
        })),
      );
      await store.events.appendMany([]);
      const page = await store.events.list({ clusterId: "many", limit: 3 });
      assert.deepEqual(
        page.events.map((e) => [e.message, e.data]),
        [
          ["m1001", { i: 1001 }],
          ["m1000", { i: 1000 }],
          ["m999", { i: 999 }],
        ],
      );
      assert.ok((page.events[0]?.id ?? 0) > (page.events[1]?.id ?? 0));
      const oldest = await store.events.list({ clusterId: "many", after: 0, limit: 1 });
      assert.equal(oldest.events[0]?.message, "m0");
    });
  });

  describe(`${label}: events`, () => {
    const fixture = useStore();

    it("lists events newest first, filtered, in pages", async () => {
      const store = fixture.store();
      for (let i = 0; i < 5; i++) {
        await store.events.append({
          clusterId: "c1",
          app: i % 2 ? "web" : "api",
          type: "HealthChanged",
          message: `${i}`,
        });
      }
      await store.events.append({ clusterId: "c2", type: "ClusterRegistered", data: { by: "alice" } });
      const all = await store.events.list();
      assert.deepEqual(
        all.events.map((e) => e.message),
        ["", "4", "3", "2", "1", "0"],
      );
      assert.deepEqual(all.events[0]?.data, { by: "alice" });
      assert.equal(all.next, undefined);
      const web = await store.events.list({ clusterId: "c1", app: "web" });
      assert.deepEqual(
        web.events.map((e) => e.message),
        ["3", "1"],
      );
      const first = await store.events.list({ clusterId: "c1", limit: 2 });
      assert.deepEqual(
        first.events.map((e) => e.message),
        ["4", "3"],
      );
      const second = await store.events.list({ clusterId: "c1", limit: 2, before: first.next });
      assert.deepEqual(
        second.events.map((e) => e.message),
        ["2", "1"],
      );
      assert.deepEqual(
        (await store.events.list({ type: "ClusterRegistered" })).events.map((e) => e.clusterId),
        ["c2"],
      );
    });

    it("lists events since a time", async () => {
      const store = fixture.store();
      const at = new Date("2020-06-01T00:00:00Z");
      await store.events.append({ at: new Date("2020-01-01T00:00:00Z"), app: "since", type: "Old" });
      await store.events.append({ at, app: "since", type: "New" });
      const listed = await store.events.list({ app: "since", since: at });
      assert.deepEqual(
        listed.events.map((e) => [e.type, e.at]),
        [["New", at]],
      );
    });

    it("lists events after an id oldest first, filtered, in pages", async () => {
      const store = fixture.store();
      const first = await store.events.append({ app: "tail", type: "Start" });
      for (let i = 0; i < 5; i++)
        await store.events.append({ app: "tail", type: i === 2 ? "Other" : "Step", message: `${i}` });
      const page = await store.events.list({ app: "tail", after: first.id, limit: 2 });
      assert.deepEqual(
        page.events.map((e) => e.message),
        ["0", "1"],
      );
      assert.equal(page.next, page.events[1]?.id);
      const rest = await store.events.list({ app: "tail", after: page.next });
      assert.deepEqual(
        rest.events.map((e) => e.message),
        ["2", "3", "4"],
      );
      assert.equal(rest.next, undefined);
      const steps = await store.events.list({ app: "tail", type: "Step", after: first.id });
      assert.deepEqual(
        steps.events.map((e) => e.message),
        ["0", "1", "3", "4"],
      );
      const last = rest.events.at(-1);
      assert.ok(last);
      assert.deepEqual((await store.events.list({ after: last.id })).events, []);
    });
  });

  describe(`${label}: event retention`, () => {
    const fixture = useStore();

    it("prunes events older than a time, then the oldest beyond a row count", async () => {
      const store = fixture.store();
      await store.events.append({ at: new Date("2000-01-01T00:00:00Z"), type: "Ancient" });
      for (let i = 0; i < 4; i++) await store.events.append({ type: "Recent", message: `${i}` });
      assert.equal(await store.events.prune({ olderThan: new Date("2001-01-01T00:00:00Z") }), 1);
      assert.equal(await store.events.prune({ maxRows: 2 }), 2);
      assert.deepEqual(
        (await store.events.list()).events.map((e) => e.message),
        ["3", "2"],
      );
      assert.equal(await store.events.prune({ maxRows: 2 }), 0);
    });
  });

  describe(`${label}: sync requests`, () => {
    const fixture = useStore();

    it("keeps sync requests pending until the agent acks them", async () => {
      const store = fixture.store();
      const cluster = await addCluster(store);
      const added = await store.syncRequests.add({
        clusterId: cluster.id,
        app: "web",
        requestId: "r1",
        prune: true,
      });
      assert.ok(added.ok);
      assert.equal(added.request.prune, true);
      assert.equal(added.request.dryRun, false);
      await store.syncRequests.add({ clusterId: cluster.id, app: "api", requestId: "r2", dryRun: true });
      assert.deepEqual(await store.syncRequests.add({ clusterId: cluster.id, app: "web", requestId: "r1" }), {
        ok: false,
        reason: "duplicate",
      });
      assert.deepEqual(
        (await store.syncRequests.listPending(cluster.id)).map((r) => r.requestId),
        ["r1", "r2"],
      );
      assert.equal(await store.syncRequests.ack(cluster.id, "r1"), true);
      assert.equal(await store.syncRequests.ack(cluster.id, "r1"), false);
      assert.equal(await store.syncRequests.ack(randomUUID(), "r2"), false);
      assert.deepEqual(
        (await store.syncRequests.listPending(cluster.id)).map((r) => r.requestId),
        ["r2"],
      );
    });
  });

  describe(`${label}: rollouts`, () => {
    const fixture = useStore();

    it("stores, replaces and removes a rollout's state, and keeps it across a restart", async () => {
      const store = fixture.store();
      await store.rollouts.put("web", { name: "web", phase: "Progressing", step: 0 });
      await store.rollouts.put("api", { name: "api", phase: "Completed", step: 2 });
      await store.rollouts.put("web", { name: "web", phase: "Paused", step: 1 });
      assert.deepEqual(
        (await store.rollouts.list()).map((r) => [r.name, r.state.phase]),
        [
          ["api", "Completed"],
          ["web", "Paused"],
        ],
      );
      const restarted = await fixture.restart();
      assert.equal((await restarted.rollouts.get("web"))?.state.step, 1);
      assert.equal(await restarted.rollouts.remove("web"), true);
      assert.equal(await restarted.rollouts.remove("web"), false);
      assert.equal(await restarted.rollouts.get("web"), undefined);
    });

    it("queues commands in order and deletes the ones carried out", async () => {
      const store = fixture.store();
      const first = await store.rollouts.addCommand({
        rollout: "web",
        action: "pause",
        all: false,
        actor: "alice",
      });
      const second = await store.rollouts.addCommand({
        rollout: "web",
        action: "promote",
        all: true,
        actor: "bob",
      });
      assert.ok(second.id > first.id);
      assert.deepEqual(
        (await store.rollouts.listCommands()).map((c) => [c.action, c.all, c.actor]),
        [
          ["pause", false, "alice"],
          ["promote", true, "bob"],
        ],
      );
      await store.rollouts.removeCommands([first.id]);
      assert.deepEqual(
        (await store.rollouts.listCommands()).map((c) => c.id),
        [second.id],
      );
      await store.rollouts.removeCommands([]);
    });
  });

  describe(`${label}: leases`, () => {
    const fixture = useStore();

    it("gives a free lease to one holder and refuses others until it is released", async () => {
      const store = fixture.store();
      assert.equal(await store.leases.tryAcquire("leader", "a", 60_000), true);
      assert.equal(await store.leases.tryAcquire("leader", "b", 60_000), false);
      assert.equal(await store.leases.tryAcquire("leader", "a", 60_000), true, "the holder renews");
      assert.equal(await store.leases.renew("leader", "a", 60_000), true);
      assert.equal(await store.leases.renew("leader", "b", 60_000), false);
      assert.equal((await store.leases.get("leader"))?.holder, "a");
      await store.leases.release("leader", "b");
      assert.equal((await store.leases.get("leader"))?.holder, "a", "only the holder releases");
      await store.leases.release("leader", "a");
      assert.equal(await store.leases.tryAcquire("leader", "b", 60_000), true);
    });

    it("hands an expired lease to another holder", async () => {
      const store = fixture.store();
      assert.equal(await store.leases.tryAcquire("expiring", "a", 0), true);
      assert.equal(await store.leases.tryAcquire("expiring", "b", 60_000), true);
      assert.equal(await store.leases.renew("expiring", "a", 60_000), false);
      assert.equal((await store.leases.get("expiring"))?.holder, "b");
    });

    it("lets exactly one of many concurrent holders take a free lease", async () => {
      const store = fixture.store();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.leases.tryAcquire("contested", `h${i}`, 60_000)),
      );
      assert.equal(results.filter(Boolean).length, 1);
    });
  });
}

function status(clusterId: string, app: string, fields: Record<string, unknown> = {}) {
  return {
    clusterId,
    app,
    digest: "d1",
    revision: "abc123",
    sync: "Synced",
    health: "Healthy",
    observedAt: new Date(),
    ...fields,
  };
}
