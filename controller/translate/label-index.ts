// Workloads indexed by namespace and label pair, so that selecting a Service's pods costs
// the size of the smallest matching label bucket instead of a scan over every workload.
import { labelsMatch } from './raw.js';
import type { Workload } from '../../core/model/types.js';

export class WorkloadIndex {
  private readonly byPair = new Map<string, Workload[]>();

  constructor(workloads: readonly Workload[]) {
    for (const w of workloads) {
      for (const [k, v] of Object.entries(w.labels)) {
        const key = `${w.namespace}\u0000${k}\u0000${v}`;
        const list = this.byPair.get(key);
        if (list) list.push(w);
        else this.byPair.set(key, [w]);
      }
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
