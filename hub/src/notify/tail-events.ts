/**
 * Follows the event history in id order. Ids come from one sequence, but with several replicas
 * writing, an event can become visible after a higher id did (its transaction committed later),
 * and some ids never appear (rolled back, or skipped by the sequence after a crash). So the tail
 * keeps re-reading from its last gap-free position, returns each event once, and stops waiting
 * for a missing id once a higher id has been visible for `gapWaitMs`.
 */
import type { HubEvent, Store } from "../store/store.js";

export type EventTail = {
  /** Events appended since the previous read (each returned once), by id. */
  read(): Promise<HubEvent[]>;
  /** Every id up to this one was returned or given up on. */
  position(): number;
};

export type EventTailOptions = {
  events: Pick<Store["events"], "list">;
  /** Start after this id. */
  after: number;
  /** How long a missing id is waited for once a higher one is visible; default 10 s. */
  gapWaitMs?: number;
  /** Events per store page (at most 1,000); default 500. */
  pageSize?: number;
  /** Pages per read, so one read stays short; default 20. */
  maxPages?: number;
  /** Milliseconds since the epoch; default Date.now. */
  nowMs?: () => number;
};

export function createEventTail(options: EventTailOptions): EventTail {
  const gapWaitMs = options.gapWaitMs ?? 10_000;
  const pageSize = options.pageSize ?? 500;
  const maxPages = options.maxPages ?? 20;
  const nowMs = options.nowMs ?? Date.now;
  let position = options.after;
  /** Ids above `position` returned already, with when each was first seen. */
  const seen = new Map<number, number>();

  function advance(): void {
    const ids = [...seen.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const firstSeen = seen.get(id) ?? 0;
      if (id !== position + 1 && nowMs() - firstSeen < gapWaitMs) return;
      position = id;
      seen.delete(id);
    }
  }

  return {
    async read() {
      const fresh: HubEvent[] = [];
      let after = position;
      for (let page = 0; page < maxPages; page++) {
        const listed = await options.events.list({ after, limit: pageSize });
        for (const event of listed.events) {
          if (event.id <= position || seen.has(event.id)) continue;
          seen.set(event.id, nowMs());
          fresh.push(event);
        }
        if (listed.next === undefined) break;
        after = listed.next;
      }
      advance();
      return fresh;
    },
    position: () => position,
  };
}
