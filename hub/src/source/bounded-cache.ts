/**
 * A least-recently-used map bounded by the total cost of its values (the caller says what one
 * value costs: 1 per entry, or its size). A value costing more than the whole budget is not kept.
 */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, { value: V; cost: number }>();
  readonly #maxCost: number;
  #totalCost = 0;

  constructor(maxCost: number) {
    this.#maxCost = maxCost;
  }

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    // Re-insert so that Map order stays least recently used first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V, cost = 1): void {
    this.delete(key);
    if (cost > this.#maxCost) return;
    this.#entries.set(key, { value, cost });
    this.#totalCost += cost;
    for (const [oldest, entry] of this.#entries) {
      if (this.#totalCost <= this.#maxCost) break;
      this.#entries.delete(oldest);
      this.#totalCost -= entry.cost;
    }
  }

  delete(key: K): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#totalCost -= entry.cost;
  }
}
