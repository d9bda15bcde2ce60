// "Which identities run on node N": the CA asks on every request, so the answer comes from an
// index built once per workload list (one translation), not from a scan per request.
// Workloads without a node (pods not yet scheduled) are on no node.
import type { Workload } from '../../core/model/types.js';

const EMPTY: ReadonlySet<string> = new Set();
const indexes = new WeakMap<readonly Workload[], ReadonlyMap<string, ReadonlySet<string>>>();

function build(workloads: readonly Workload[]): ReadonlyMap<string, ReadonlySet<string>> {
  const byNode = new Map<string, Set<string>>();
  for (const w of workloads) {
    if (!w.node) continue;
    let ids = byNode.get(w.node);
    if (!ids) byNode.set(w.node, (ids = new Set()));
    ids.add(w.identity);
  }
  return byNode;
}

/** The SPIFFE ids of `workloads` scheduled on `node` (the index of a list is built on first use). */
export function identitiesOnNode(workloads: readonly Workload[], node: string): ReadonlySet<string> {
  let index = indexes.get(workloads);
  if (!index) indexes.set(workloads, (index = build(workloads)));
  return index.get(node) ?? EMPTY;
}
