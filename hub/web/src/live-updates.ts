/**
 * One server-sent-events connection to /api/v1/watch for the whole page. EventSource cannot
 * send an Authorization header, so this reads the stream with fetch and a ReadableStream
 * reader. It reconnects with capped, jittered exponential backoff (1 s doubling to 30 s), and
 * after a reconnect asks views to reload (`resync`), since changes in between were missed.
 * A connection silent for 45 s (the hub pings every 15 s) counts as dead.
 */
import type { WatchMessage } from "./api-types.js";

export type LiveState = "connecting" | "live" | "reconnecting" | "stopped";
export type LiveChange = { kind: "message"; message: WatchMessage } | { kind: "resync" };

export type LiveOptions = {
  authorization(): string | undefined;
  onChange(change: LiveChange): void;
  onState(state: LiveState): void;
  /** The hub refused the token (401); the watch stops. */
  onUnauthenticated(message: string): void;
};

const WATCH_PATH = "/api/v1/watch";
const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;
const SILENCE_MS = 45_000;

/** Starts watching; `stop()` ends the connection and every retry. */
export function startLiveUpdates(options: LiveOptions): { stop(): void } {
  const controller = new AbortController();
  const { signal } = controller;
  void run();

  async function run(): Promise<void> {
    let failures = 0;
    let connectedBefore = false;
    while (!signal.aborted) {
      options.onState(connectedBefore || failures > 0 ? "reconnecting" : "connecting");
      const attempt = new AbortController();
      const abortAttempt = () => attempt.abort();
      signal.addEventListener("abort", abortAttempt);
      try {
        const authorization = options.authorization();
        const response = await fetch(WATCH_PATH, {
          headers: {
            accept: "text/event-stream",
            ...(authorization ? { authorization } : {}),
          },
          cache: "no-store",
          signal: attempt.signal,
        });
        if (response.status === 401) {
          options.onUnauthenticated(await errorMessage(response));
          options.onState("stopped");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`watch: HTTP ${response.status}`);
        options.onState("live");
        if (connectedBefore) options.onChange({ kind: "resync" });
        connectedBefore = true;
        failures = 0;
        await readEvents(response.body, attempt, options.onChange);
      } catch {
        // Retried below; the indicator shows "reconnecting" meanwhile.
      } finally {
        signal.removeEventListener("abort", abortAttempt);
        attempt.abort();
      }
      if (signal.aborted) break;
      failures += 1;
      const capped = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (failures - 1));
      await sleep(capped / 2 + Math.random() * (capped / 2), signal);
    }
    options.onState("stopped");
  }

  return { stop: () => controller.abort() };
}

/** Reads `data:` events until the stream ends, fails, or stays silent too long. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  attempt: AbortController,
  onChange: LiveOptions["onChange"],
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let silence = setTimeout(() => attempt.abort(), SILENCE_MS);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      clearTimeout(silence);
      silence = setTimeout(() => attempt.abort(), SILENCE_MS);
      buffer += decoder.decode(value, { stream: true }).replaceAll("\r\n", "\n");
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        const event = parseEvent(block);
        if (event.name === "error") throw new Error(`watch ended by the hub: ${event.data}`);
        if (event.data === "") continue;
        onChange({ kind: "message", message: JSON.parse(event.data) as WatchMessage });
      }
    }
  } finally {
    clearTimeout(silence);
    reader.cancel().catch(() => {});
  }
}

/** One SSE block: its `event:` name and its `data:` lines joined; comments are skipped. */
function parseEvent(block: string): { name: string; data: string } {
  let name = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return { name, data: data.join("\n") };
}

async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    return body.error?.message ?? "the hub refused the API token";
  } catch {
    return "the hub refused the API token";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
