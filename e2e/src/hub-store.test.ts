import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openStore } from "@flotilla/hub/store/open-store";
import { describeStoreContract } from "@flotilla/hub/store/store-contract";
import { usePostgres } from "./harness/postgres.js";

const postgres = usePostgres();
let databases = 0;

describeStoreContract("postgres", async () => {
  const url = await postgres().createDatabase(`store_${++databases}`);
  return (options) => openStore({ kind: "postgres", url, ...options });
});

describe("openStore (postgres, two replicas)", () => {
  it("migrates once when two replicas start on an empty database at the same time", async () => {
    const url = await postgres().createDatabase("replicas_migrate");
    const [a, b] = await Promise.all([
      openStore({ kind: "postgres", url }),
      openStore({ kind: "postgres", url }),
    ]);
    try {
      const created = await a.clusters.create({ id: "c1", name: "one", clusterUid: "u1" });
      assert.ok(created.ok);
      assert.equal((await b.clusters.get("c1"))?.name, "one");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("lets exactly one replica consume a single-use token and take a lease", async () => {
    const url = await postgres().createDatabase("replicas_race");
    const replicas = await Promise.all(Array.from({ length: 3 }, () => openStore({ kind: "postgres", url })));
    try {
      const [first] = replicas;
      assert.ok(first);
      await first.bootstrapTokens.create({ id: "once", secret: "s", maxUses: 1 });
      const consumed = await Promise.all(
        replicas.flatMap((store) =>
          Array.from({ length: 4 }, () => store.bootstrapTokens.consume("once", "s")),
        ),
      );
      assert.equal(consumed.filter((r) => r.ok).length, 1);
      const leased = await Promise.all(
        replicas.map((store, i) => store.leases.tryAcquire("leader", `replica-${i}`, 60_000)),
      );
      assert.equal(leased.filter(Boolean).length, 1);
    } finally {
      await Promise.all(replicas.map((store) => store.close()));
    }
  });

  it("never repeats a seq when replicas apply targets for one cluster at the same time", async () => {
    const url = await postgres().createDatabase("replicas_seq");
    const replicas = await Promise.all(Array.from({ length: 3 }, () => openStore({ kind: "postgres", url })));
    try {
      const [first] = replicas;
      assert.ok(first);
      await first.clusters.create({ id: "c1", name: "one", clusterUid: "u1" });
      const results = await Promise.all(
        replicas.flatMap((store, r) =>
          Array.from({ length: 4 }, (_, i) =>
            store.targets.apply("c1", [
              { app: "web", digest: `d${r}-${i}`, bundleDigest: "b", desired: {} },
              { app: `app-${r}-${i}`, digest: "x", bundleDigest: "b", desired: {} },
            ]),
          ),
        ),
      );
      const seqs = results.flatMap((r) => [...r.changed.map((t) => t.seq), ...r.removed.map((t) => t.seq)]);
      assert.deepEqual(
        [...seqs].sort((a, b) => a - b),
        Array.from({ length: seqs.length }, (_, i) => i + 1),
      );
      assert.equal((await first.clusters.get("c1"))?.desiredSeq, seqs.length);
    } finally {
      await Promise.all(replicas.map((store) => store.close()));
    }
  });
});
