import { KubeError, type WatchEvent, type WatchHandle } from "./kube-client.js";
import type { KubeObject } from "./kube-object.js";
import { mapStatusError } from "./map-response-error.js";

/** One line of a watch stream, as the API server sends it. */
export type RawWatchEvent = { type: string; object: unknown };

/** The two requests a watch is made of; `createKubeClient` implements them over HTTPS. */
export type WatchTransport = {
  list(signal: AbortSignal): Promise<{ items: KubeObject[]; resourceVersion: string }>;
  /**
   * Watches from `resourceVersion`: calls `onOpen` once the server accepted the watch, `onEvent`
   * per line; resolves when the server ends the stream cleanly, rejects (KubeError when the server
   * or the network failed) otherwise. An error thrown by `onEvent` ends the watch with that error.
   */
  openWatch(
    resourceVersion: string,
    signal: AbortSignal,
    sink: { onOpen(): void; onEvent(event: RawWatchEvent): void },
  ): Promise<void>;
};

export type WatchHandlers = {
  onEvent(event: WatchEvent): void;
  onSynced?(): void;
  onError?(error: KubeError): void;
};

export type WatchOptions = {
  /** Names the watched collection in errors, for example `Deployment/web/*`. */
  subject: string;
  /** Cap of the delay between failed attempts; default 30_000. */
  backoffMaxMs?: number;
  /** First delay after a failure, doubled per further failure; default 500. */
  backoffBaseMs?: number;
  /** A stream that ends cleanly this soon without an event counts as a failure (no hot loop); default 1_000. */
  minStreamMs?: number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
};

/**
 * Lists then watches through `transport` until `stop()`; see `KubeClient.watch`. On a clean end or
 * a network failure it resumes from the last resourceVersion seen (bookmarks included); on 410 Gone
 * or any other failure it relists and reports the difference to what it knew: DELETED for objects
 * that vanished, ADDED for new ones, MODIFIED for those whose resourceVersion changed. Failures are
 * reported to `onError` and retried after a capped, jittered exponential backoff. `onSynced` is
 * called after each list and when a watch is re-established after a failure. `stop()` aborts the
 * request in flight and cancels any backoff timer; nothing is called after it.
 */
export function watchResource(
  transport: WatchTransport,
  handlers: WatchHandlers,
  options: WatchOptions,
): WatchHandle {
  const backoffMaxMs = options.backoffMaxMs ?? 30_000;
  const backoffBaseMs = options.backoffBaseMs ?? 500;
  const minStreamMs = options.minStreamMs ?? 1_000;
  const random = options.random ?? Math.random;
  const controller = new AbortController();
  const { signal } = controller;
  /** Objects by namespace/name as last seen, to tell what a relist changed. */
  let known = new Map<string, KubeObject>();
  let listed = false;
  let resourceVersion = "";
  let mustList = true;
  let failures = 0;
  /** 410s without an event in between; past the first, they wait like other failures. */
  let goneInARow = 0;

  const relist = async () => {
    const list = await transport.list(signal);
    if (signal.aborted) return;
    const next = new Map(list.items.map((item) => [keyOf(item), item]));
    if (listed) {
      for (const [key, object] of known) if (!next.has(key)) handlers.onEvent({ type: "DELETED", object });
    }
    for (const [key, object] of next) {
      const before = listed ? known.get(key) : undefined;
      if (!before) handlers.onEvent({ type: "ADDED", object });
      else if (before.metadata.resourceVersion !== object.metadata.resourceVersion) {
        handlers.onEvent({ type: "MODIFIED", object });
      }
    }
    known = next;
    listed = true;
    resourceVersion = list.resourceVersion;
    mustList = false;
    failures = 0;
    handlers.onSynced?.();
  };

  const follow = async () => {
    const startedAt = Date.now();
    let events = 0;
    await transport.openWatch(resourceVersion, signal, {
      onOpen() {
        if (failures === 0 || signal.aborted) return;
        failures = 0;
        handlers.onSynced?.();
      },
      onEvent(raw) {
        if (signal.aborted) return;
        if (raw.type === "ERROR") throw mapStatusError(options.subject, raw.object as { code?: number });
        const object = raw.object as KubeObject;
        if (object.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
        if (raw.type === "BOOKMARK") return;
        if (raw.type !== "ADDED" && raw.type !== "MODIFIED" && raw.type !== "DELETED") return;
        events += 1;
        goneInARow = 0;
        if (raw.type === "DELETED") known.delete(keyOf(object));
        else known.set(keyOf(object), object);
        handlers.onEvent({ type: raw.type, object });
      },
    });
    if (events === 0 && Date.now() - startedAt < minStreamMs) {
      // The server keeps closing at once: wait as after a failure, without reporting one.
      failures += 1;
      await pause(delayFor(failures));
    }
  };

  const delayFor = (attempt: number) => {
    const capped = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(attempt - 1, 30));
    return capped / 2 + (random() * capped) / 2;
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });

  const run = async () => {
    while (!signal.aborted) {
      try {
        if (mustList) await relist();
        else await follow();
      } catch (cause) {
        if (signal.aborted) return;
        const error =
          cause instanceof KubeError
            ? cause
            : new KubeError(`${options.subject}: watch failed: ${String(cause)}`, "Unknown", undefined, {
                cause,
              });
        // A dropped connection resumes where it stopped; anything else may have lost events.
        if (error.reason !== "Unavailable") mustList = true;
        failures += 1;
        goneInARow = error.reason === "Gone" ? goneInARow + 1 : 0;
        handlers.onError?.(error);
        // A first 410 relists at once: the server compacted history, nothing is wrong with it.
        if (goneInARow !== 1) await pause(delayFor(failures));
      }
    }
  };

  run().catch(() => {
    // Only a throwing onSynced/onError handler gets here; the watch then stops.
    controller.abort();
  });
  return {
    stop() {
      controller.abort();
    },
  };
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}
