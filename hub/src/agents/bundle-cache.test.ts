import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Bundle } from "../store/store.js";
import { createBundleCache } from "./bundle-cache.js";

function fakeStore(bundles: Record<string, number>) {
  const reads: string[] = [];
  return {
    reads,
    store: {
      bundles: {
        async get(digest: string): Promise<Bundle | undefined> {
          reads.push(digest);
          await new Promise((resolve) => setTimeout(resolve, 1));
          const size = bundles[digest];
          return size === undefined
            ? undefined
            : { digest, encoding: "json", bytes: new Uint8Array(size), objectCount: 1 };
        },
      } as never,
    },
  };
}

describe("bundle cache", () => {
  it("reads a bundle once for many concurrent and later senders", async () => {
    const { reads, store } = fakeStore({ a: 10 });
    const cache = createBundleCache(store);
    const got = await Promise.all(Array.from({ length: 100 }, () => cache.get("a")));
    assert.ok(got.every((bundle) => bundle?.digest === "a"));
    assert.equal((await cache.get("a"))?.bytes.length, 10);
    assert.deepEqual(reads, ["a"]);
  });

  it("does not remember a missing bundle", async () => {
    const { reads, store } = fakeStore({});
    const cache = createBundleCache(store);
    assert.equal(await cache.get("late"), undefined);
    assert.equal(await cache.get("late"), undefined);
    assert.deepEqual(reads, ["late", "late"]);
  });

  it("drops the least recently used bundles beyond its byte budget", async () => {
    const { reads, store } = fakeStore({ a: 40, b: 40, c: 40 });
    const cache = createBundleCache(store, 100);
    await cache.get("a");
    await cache.get("b");
    await cache.get("a"); // a is now the most recent
    await cache.get("c"); // 120 bytes: b goes
    assert.equal(cache.bytes(), 80);
    await cache.get("a");
    await cache.get("b");
    assert.deepEqual(reads, ["a", "b", "c", "b"]);
  });
});
