import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { watchStore } from "./watch-store.js";

/** A store whose ping answers what `answers` says, counting the pings. */
function fakeStore(answers: { up: boolean }) {
  const calls = { pings: 0 };
  return {
    calls,
    store: {
      async ping() {
        calls.pings += 1;
        return answers.up;
      },
    },
  };
}

describe("watchStore", () => {
  it("logs once when the store stops answering and once when it answers again", async () => {
    const answers = { up: true };
    const { store } = fakeStore(answers);
    const lines: { level: string; message: string }[] = [];
    const watch = watchStore({
      store,
      log: (level, message) => lines.push({ level, message }),
      intervalMs: 60_000,
    });
    try {
      assert.equal(await watch.check(), true);
      assert.equal(lines.length, 0, "nothing to say while the store answers");
      answers.up = false;
      assert.equal(await watch.check(), false);
      assert.equal(await watch.check(), false);
      assert.equal(watch.available(), false);
      answers.up = true;
      assert.equal(await watch.check(), true);
      assert.equal(watch.available(), true);
      assert.deepEqual(
        lines.map((line) => [line.level, line.message.split(":")[0]]),
        [
          ["error", "store unavailable"],
          ["info", "store available again"],
        ],
      );
    } finally {
      watch.stop();
    }
  });

  it("shares one ping between checks that overlap", async () => {
    const { store, calls } = fakeStore({ up: true });
    const watch = watchStore({ store, log: () => {}, intervalMs: 60_000 });
    try {
      const outcomes = await Promise.all([watch.check(), watch.check(), watch.check()]);
      assert.deepEqual(outcomes, [true, true, true]);
      assert.equal(calls.pings, 1);
    } finally {
      watch.stop();
    }
  });
});
