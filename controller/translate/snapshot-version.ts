// The snapshot's version: a content hash that an incremental translation updates in
// O(changed items) instead of re-hashing every item of the mesh on every pod change (at 10,000
// services that pass was the largest cost of a push). Each list contributes its length and
// the sum of its items' content hashes (a multiset hash: the lists are sorted by name, so the
// order carries no meaning); a list the incremental translator derived from an earlier one
// (list-delta.ts) updates that list's sum with the items it replaced. A full translation
// computes the same sums from scratch, so both give the same version.
import { createHash } from 'node:crypto';
import type { MeshSnapshot } from '../../core/model/types.js';
import { listDeltaOf } from './list-delta.js';

/** Two 32-bit lanes of an item's SHA-256. */
type ItemHash = readonly [number, number];

interface ListSum {
  readonly n: number;
  readonly hi: number;
  readonly lo: number;
  /** name → item hash, to subtract an item a later list replaces; moves to that list's sum. */
  byName: Map<string, ItemHash> | undefined;
}

const itemHashes = new WeakMap<object, ItemHash>();
const sums = new WeakMap<readonly object[], ListSum>();

/** Content hash of one item, remembered per object (unchanged items keep their object). */
function itemHash(item: object): ItemHash {
  let h = itemHashes.get(item);
  if (h === undefined) {
    const d = createHash('sha256').update(JSON.stringify(item)).digest();
    h = [d.readUInt32BE(0), d.readUInt32BE(4)];
    itemHashes.set(item, h);
  }
  return h;
}

function fullSum<T extends object>(list: readonly T[], nameOf?: (item: T) => string): ListSum {
  let hi = 0;
  let lo = 0;
  let byName: Map<string, ItemHash> | undefined = nameOf ? new Map() : undefined;
  for (const item of list) {
    const h = itemHash(item);
    hi = (hi + h[0]) >>> 0;
    lo = (lo + h[1]) >>> 0;
    if (byName) {
      const name = nameOf!(item);
      if (byName.has(name))
        byName = undefined; // not named uniquely: no incremental update
      else byName.set(name, h);
    }
  }
  return { n: list.length, hi, lo, byName };
}

/** The list's sum: from the sum of the list it was derived from when there is one, else a full pass. */
function listSum<T extends object>(list: readonly T[], nameOf?: (item: T) => string): ListSum {
  const known = sums.get(list);
  if (known) return known;
  const delta = nameOf && list.length > 0 ? listDeltaOf(list) : undefined;
  const base = delta ? sums.get(delta.base) : undefined;
  let sum: ListSum | undefined;
  if (delta && base?.byName) {
    const byName = base.byName;
    base.byName = undefined; // taken over: a second list derived from `base` takes the full pass
    let { n, hi, lo } = base;
    for (const [name, item] of delta.changes) {
      const old = byName.get(name);
      if (old) {
        hi = (hi - old[0]) >>> 0;
        lo = (lo - old[1]) >>> 0;
        n--;
        byName.delete(name);
      }
      if (item) {
        const h = itemHash(item);
        hi = (hi + h[0]) >>> 0;
        lo = (lo + h[1]) >>> 0;
        n++;
        byName.set(name, h);
      }
    }
    // A delta that does not account for every item (never expected) falls back to the full pass.
    if (n === list.length) sum = { n, hi, lo, byName };
  }
  sum ??= fullSum(list, nameOf);
  sums.set(list, sum);
  return sum;
}

export function snapshotVersion(body: Omit<MeshSnapshot, 'version'>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(body.mesh));
  const parts: Array<ListSum | undefined> = [
    listSum(body.workloads, (w) => w.uid),
    listSum(body.services, (s) => s.key),
    listSum(body.authorizationPolicies),
    listSum(body.peerAuthentications),
    body.sidecarScopes && listSum(body.sidecarScopes),
    body.namespaces && listSum(body.namespaces),
  ];
  for (const p of parts) h.update(p ? `|${p.n}:${p.hi}:${p.lo}` : '|-');
  return h.digest('hex').slice(0, 16);
}
