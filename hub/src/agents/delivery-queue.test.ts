import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Change, createDeliveryQueue, planResume } from "./delivery-queue.js";

const desired = (app: string, digest: string, seq: number) => ({
  app,
  digest,
  bundleDigest: `b-${digest}`,
  seq: BigInt(seq),
});

describe("planResume", () => {
  const base = {
    removalSeq: () => 100n,
    pruneOnRemoval: (app: string) => app !== "keep-objects",
    latestSeq: 12n,
  };

  it("sends nothing to an agent that holds every current digest", () => {
    const plan = planResume({
      ...base,
      desired: [desired("web", "d1", 3), desired("db", "d2", 5)],
      held: [
        { app: "web", digest: "d1", seq: 3n },
        { app: "db", digest: "d2", seq: 5n },
      ],
      lastAppliedSeq: 5n,
    });
    assert.deepEqual(plan, { backlog: [], seqReset: false });
  });

  it("sends missing and changed apps as upserts and no longer desired apps as removals, in seq order", () => {
    const plan = planResume({
      ...base,
      desired: [desired("web", "d1-new", 9), desired("db", "d2", 5), desired("cache", "d3", 7)],
      held: [
        { app: "web", digest: "d1", seq: 3n },
        { app: "db", digest: "d2", seq: 5n },
        { app: "old", digest: "d0", seq: 1n },
        { app: "keep-objects", digest: "d4", seq: 2n },
      ],
      lastAppliedSeq: 5n,
    });
    assert.deepEqual(
      plan.backlog.map((c: Change) => [c.kind, c.app, c.seq, c.kind === "removal" ? c.prune : c.digest]),
      [
        ["upsert", "cache", 7n, "d3"],
        ["upsert", "web", 9n, "d1-new"],
        ["removal", "keep-objects", 100n, false],
        ["removal", "old", 100n, true],
      ],
    );
  });

  it("flags a seq reset when the agent is ahead of the hub's history", () => {
    const plan = planResume({ ...base, desired: [], held: [], lastAppliedSeq: 40n });
    assert.equal(plan.seqReset, true);
  });
});

describe("createDeliveryQueue", () => {
  const upsert = (app: string, seq: number): Change => ({
    kind: "upsert",
    app,
    seq: BigInt(seq),
    digest: `d${seq}`,
    bundleDigest: `b${seq}`,
  });

  it("keeps only the latest pending change per app and hands them out oldest first", () => {
    const queue = createDeliveryQueue();
    queue.push(upsert("web", 1));
    queue.push(upsert("db", 2));
    queue.push(upsert("web", 3));
    queue.push(upsert("web", 2)); // late and older: ignored
    assert.equal(queue.pendingCount(), 2);
    assert.deepEqual(queue.take(), upsert("db", 2));
    assert.deepEqual(queue.take(), upsert("web", 3));
    assert.equal(queue.take(), undefined);
  });

  it("stays bounded by the number of apps under a flood of changes", () => {
    const queue = createDeliveryQueue();
    for (let seq = 1; seq <= 100_000; seq++) queue.push(upsert(`app-${seq % 20}`, seq));
    assert.equal(queue.pendingCount(), 20);
  });

  it("remembers what was sent until it is acknowledged, for a resend after a reconnect", () => {
    const queue = createDeliveryQueue();
    queue.sent(upsert("web", 4));
    queue.sent(upsert("db", 2));
    queue.ack("web", 3n); // an ack for an older seq does not clear the newer change
    assert.deepEqual(
      queue.unacknowledged().map((c) => [c.app, c.seq]),
      [
        ["db", 2n],
        ["web", 4n],
      ],
    );
    queue.ack("web", 4n);
    queue.ack("db", 2n);
    assert.deepEqual(queue.unacknowledged(), []);
  });

  it("counts as depth what waits to be sent and what was sent but not acknowledged", () => {
    const queue = createDeliveryQueue();
    queue.push(upsert("web", 1));
    queue.push(upsert("db", 2));
    assert.equal(queue.depth(), 2);
    const first = queue.take();
    assert.ok(first);
    queue.sent(first);
    assert.equal(queue.depth(), 2);
    queue.ack(first.app, first.seq);
    assert.equal(queue.depth(), 1);
  });
});
