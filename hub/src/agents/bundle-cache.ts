/**
 * Bundles by digest, kept in memory while they are being sent. A commit that reaches 1,000
 * clusters sends the same bundle on 1,000 streams; each stream used to read it from the store.
 * Bundles never change under their digest, so a cached one is never stale; a missing one is not
 * remembered (it may be stored a moment later).
 */
import type { Bundle, Store } from "../store/store.js";

export type BundleCache = {
  get(digest: string): Promise<Bundle | undefined>;
  /** Bytes of the bundles held. */
  bytes(): number;
};

/** Least recently used bundles beyond `maxBytes` (default 64 MiB) are dropped. */
export function createBundleCache(store: Pick<Store, "bundles">, maxBytes = 64 * 1024 * 1024): BundleCache {
  const held = new Map<string, Bundle>();
  const reading = new Map<string, Promise<Bundle | undefined>>();
  let total = 0;
  return {
    async get(digest) {
      const cached = held.get(digest);
      if (cached) {
        held.delete(digest);
        held.set(digest, cached);
        return cached;
      }
      const pending = reading.get(digest);
      if (pending !== undefined) return pending;
      const read = store.bundles.get(digest).finally(() => reading.delete(digest));
      reading.set(digest, read);
      const bundle = await read;
      if (bundle && bundle.bytes.length <= maxBytes && !held.has(digest)) {
        held.set(digest, bundle);
        total += bundle.bytes.length;
        for (const [oldest, old] of held) {
          if (total <= maxBytes) break;
          held.delete(oldest);
          total -= old.bytes.length;
        }
      }
      return bundle;
    },
    bytes: () => total,
  };
}
