/**
 * Whether the hub's store answers, checked in the background so `/readyz` can say the store is
 * down without a query per probe. Logs once when the store stops answering and once when it
 * answers again (never the database URL).
 */
import type { Store } from "../store/store.js";
import type { Logger } from "./hub-runtime.js";

export type StoreWatch = {
  /** The outcome of the latest check; true before the first. */
  available(): boolean;
  /** Checks now (as the timer does) and resolves with the outcome. */
  check(): Promise<boolean>;
  stop(): void;
};

export type StoreWatchOptions = {
  store: Pick<Store, "ping">;
  log: Logger;
  /** Between checks; default 2 000. */
  intervalMs?: number;
  /** A check slower than this counts as unavailable; default 2 000. */
  timeoutMs?: number;
};

export function watchStore(options: StoreWatchOptions): StoreWatch {
  const { store, log } = options;
  const timeoutMs = options.timeoutMs ?? 2_000;
  let available = true;
  let since = Date.now();
  let checking: Promise<boolean> | undefined;

  function check(): Promise<boolean> {
    checking ??= store
      .ping(timeoutMs)
      .then((answered) => {
        if (answered !== available) {
          const seconds = Math.round((Date.now() - since) / 1_000);
          if (answered) log("info", "store available again", { unavailableSeconds: seconds });
          else
            log("error", "store unavailable: the database does not answer; /readyz answers 503", {
              timeoutMs,
            });
          available = answered;
          since = Date.now();
        }
        return answered;
      })
      .finally(() => {
        checking = undefined;
      });
    return checking;
  }

  const timer = setInterval(() => void check(), options.intervalMs ?? 2_000);
  timer.unref?.();
  return { available: () => available, check, stop: () => clearInterval(timer) };
}
