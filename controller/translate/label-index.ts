// Workloads indexed by namespace and label pair, so that selecting a Service's pods costs
// the size of the smallest matching label bucket instead of a scan over every workload.
import { labelsMatch } from './collections.js';
import type { Workload } from '../../core/model/types.js';

export class WorkloadIndex {
  private readonly byPair = new Map<string, Workload[]>();

  constructor(workloads: readonly Workload[]) {
    for (const w of workloads) this.add(w);
  }

  add(w: Workload): void {
    for (const [k, v] of Object.entries(w.labels)) {
      const key = `${w.namespace}\u0000${k}\u0000${v}`;
      const list = this.byPair.get(key);
      if (!list) this.byPair.set(key, [w]);
      else if (list.length === 0 || list[list.length - 1]!.uid <= w.uid) list.push(w);
      else list.splice(sortedPosition(list, w.uid), 0, w); // buckets stay in uid order, as a full build makes them
    }
  }

  /** Removes this workload object (by identity) from its buckets. */
  remove(w: Workload): void {
    for (const [k, v] of Object.entries(w.labels)) {
      const key = `${w.namespace}\u0000${k}\u0000${v}`;
      const list = this.byPair.get(key);
      const at = list ? list.indexOf(w) : -1;
      if (at < 0) continue;
      list!.splice(at, 1);
      if (list!.length === 0) this.byPair.delete(key);
    }
  }

  /** Workloads of `namespace` whose labels include every pair of `selector` (non-empty). */
  select(namespace: string, selector: Readonly<Record<string, string>>, filter?: (w: Workload) => boolean): Workload[] {
    let smallest: Workload[] | undefined;
    for (const [k, v] of Object.entries(selector)) {
      const list = this.byPair.get(`${namespace}\u0000${k}\u0000${v}`);
      if (!list) return [];
      if (!smallest || list.length < smallest.length) smallest = list;
    }
    if (!smallest) return [];
    return smallest.filter((w) => labelsMatch(selector, w.labels) && (filter === undefined || filter(w)));
  }
}

function sortedPosition(list: readonly Workload[], uid: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
