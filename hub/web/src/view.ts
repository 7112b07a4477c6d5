/** What the shell (main.ts) gives a page and expects of it. */
import type { ApiClient } from "./api-client.js";
import type { LiveChange } from "./live-updates.js";
import type { Route } from "./router.js";

export type ViewContext = {
  api: ApiClient;
  /** Sets the document title after "Flotilla · ". */
  setTitle(title: string): void;
};

export type View = {
  readonly element: HTMLElement;
  /** The hash changed but still names this page (other filters, another picked cluster). */
  update(route: Route): void;
  /** A change from the watch, or `resync` when changes may have been missed. */
  handleChange(change: LiveChange): void;
  destroy(): void;
};

/** Runs `work` once, `delayMs` after the last call. */
export function debounce(work: () => void, delayMs: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      work();
    }, delayMs);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}
