import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BoundedCache } from "./bounded-cache.js";

describe("BoundedCache", () => {
  it("evicts the least recently used values until the total cost fits", () => {
    const cache = new BoundedCache<string, number>(10);
    cache.set("a", 1, 4);
    cache.set("b", 2, 4);
    assert.equal(cache.get("a"), 1);
    cache.set("c", 3, 4);
    assert.equal(cache.get("b"), undefined);
    assert.equal(cache.get("a"), 1);
    assert.equal(cache.get("c"), 3);
  });

  it("does not keep a value that costs more than the budget, nor the value it replaces", () => {
    const cache = new BoundedCache<string, number>(10);
    cache.set("a", 1, 2);
    cache.set("a", 2, 11);
    assert.equal(cache.get("a"), undefined);
    cache.set("b", 3, 10);
    assert.equal(cache.get("b"), 3);
  });
});
