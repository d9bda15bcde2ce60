// A read-only map made of a base map and the entries that differ from it (a new value, or
// removed), so that the encoded map of a pod change is made in O(changes) instead of copying
// the 50,000 entries of the previous one. An overlay of an overlay shares the same base and
// merges the differences, so a lookup is at most two map probes; once the differences grow
// past a share of the base, the map is flattened into a plain Map.

/** Flatten when the differences exceed this share of the base (and this many entries). */
const FLATTEN_SHARE = 1 / 8;
const FLATTEN_MIN = 1024;

export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  readonly size: number;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    /** key → new value; undefined: removed from the base. */
    private readonly diff: ReadonlyMap<K, V | undefined>,
    size: number,
  ) {
    this.size = size;
  }

  /**
   * `previous` with `changes` applied (undefined = delete). Returns a plain Map when that is
   * cheaper to keep than the differences.
   */
  static patch<K, V>(previous: ReadonlyMap<K, V>, changes: Iterable<readonly [K, V | undefined]>): ReadonlyMap<K, V> {
    const base = previous instanceof OverlayMap ? (previous.base as ReadonlyMap<K, V>) : previous;
    const diff = new Map<K, V | undefined>(
      previous instanceof OverlayMap ? (previous.diff as Map<K, V | undefined>) : [],
    );
    let size = previous.size;
    const present = (k: K): boolean => (diff.has(k) ? diff.get(k) !== undefined : base.has(k));
    for (const [k, v] of changes) {
      const had = present(k);
      if (v === undefined) {
        if (!had) continue;
        size--;
        if (base.has(k)) diff.set(k, undefined);
        else diff.delete(k);
      } else {
        if (!had) size++;
        diff.set(k, v);
      }
    }
    if (diff.size > FLATTEN_MIN && diff.size > base.size * FLATTEN_SHARE) {
      return new Map(new OverlayMap(base, diff, size));
    }
    return new OverlayMap(base, diff, size);
  }

  get(key: K): V | undefined {
    return this.diff.has(key) ? this.diff.get(key) : this.base.get(key);
  }

  has(key: K): boolean {
    return this.diff.has(key) ? this.diff.get(key) !== undefined : this.base.has(key);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.base) {
      if (!this.diff.has(k)) yield [k, v];
      else {
        const now = this.diff.get(k);
        if (now !== undefined) yield [k, now];
      }
    }
    for (const [k, v] of this.diff) if (v !== undefined && !this.base.has(k)) yield [k, v];
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}
