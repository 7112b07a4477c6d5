import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EventQuery, HubEvent } from "../store/store.js";
import { createEventTail } from "./tail-events.js";

/** An event history whose rows become visible in the order the test commits them, as with several writers. */
function useHistory() {
  const visible: HubEvent[] = [];
  return {
    commit(...ids: number[]) {
      for (const id of ids)
        visible.push({ id, at: new Date(0), clusterId: null, app: null, type: "t", message: "", data: {} });
    },
    events: {
      async list(query: EventQuery = {}) {
        const after = query.after ?? 0;
        const limit = query.limit ?? 100;
        const rows = visible.filter((event) => event.id > after).sort((a, b) => a.id - b.id);
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return rows.length > limit && last ? { events: page, next: last.id } : { events: page };
      },
    },
  };
}

const ids = (events: HubEvent[]) => events.map((event) => event.id);

describe("createEventTail", () => {
  it("returns new events once each, in pages", async () => {
    const history = useHistory();
    history.commit(1, 2, 3, 4, 5);
    const tail = createEventTail({ events: history.events, after: 1, pageSize: 2 });
    assert.deepEqual(ids(await tail.read()), [2, 3, 4, 5]);
    assert.deepEqual(ids(await tail.read()), []);
    assert.equal(tail.position(), 5);
    history.commit(6);
    assert.deepEqual(ids(await tail.read()), [6]);
  });

  it("returns an event that becomes visible after a higher id, and waits for it no longer than gapWaitMs", async () => {
    const history = useHistory();
    let nowMs = 0;
    const tail = createEventTail({ events: history.events, after: 0, gapWaitMs: 10_000, nowMs: () => nowMs });
    history.commit(1, 3);
    assert.deepEqual(ids(await tail.read()), [1, 3]);
    assert.equal(tail.position(), 1, "waits at the gap");
    nowMs = 5_000;
    history.commit(2);
    assert.deepEqual(ids(await tail.read()), [2], "the late event is read, the others not again");
    assert.equal(tail.position(), 3);

    history.commit(5);
    assert.deepEqual(ids(await tail.read()), [5]);
    nowMs = 16_000;
    assert.deepEqual(ids(await tail.read()), []);
    assert.equal(tail.position(), 5, "id 4 was given up on");
    history.commit(4);
    assert.deepEqual(ids(await tail.read()), [], "an id given up on is not read later");
  });
});
