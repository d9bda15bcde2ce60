import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TYPE_SERVICE, TYPE_WORKLOAD } from '../../core/xds/resources.js';
import type { NodeInfo } from '../../core/xds/proto.js';
import { changedNames } from './resources.js';
import { ScopeIndex, DISCOVERY_MODE_KEY, ON_DEMAND } from './scope.js';
import { placedMesh } from './scope-fixtures.js';

const agent = (name: string): NodeInfo => ({
  name,
  role: 'agent',
  namespace: '',
  metadata: { [DISCOVERY_MODE_KEY]: ON_DEMAND },
});

/** What a scope selects from a set, as plain data. */
function selected(index: ScopeIndex, node: NodeInfo, lookups: ReadonlySet<string>) {
  const scope = index.scopeFor(node, lookups);
  const pick = (type: string) =>
    [...(index.set.get(type) ?? new Map()).entries()]
      .filter(([n, r]) => scope.includes(type, n, r))
      .map(([n]) => n)
      .sort();
  const candidates = (type: string) => [...new Set(scope.candidates?.(type) ?? [])].sort();
  return {
    key: scope.key,
    workloads: pick(TYPE_WORKLOAD),
    services: pick(TYPE_SERVICE),
    cw: candidates(TYPE_WORKLOAD),
    cs: candidates(TYPE_SERVICE),
  };
}

describe('scope index', () => {
  it('advanced by the changed names, it selects what a fresh index of the new set selects', () => {
    const placement = fc.array(
      fc.record({
        node: fc.constantFrom('n1', 'n2', 'n3'),
        ip: fc.integer({ min: 1, max: 9 }),
        app: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(
        fc.array(placement, { minLength: 2, maxLength: 5 }),
        fc.constantFrom('10.96.0.0', '10.96.0.1', 'a2.ns0.svc.cluster.local', '10.0.0.3'),
        (sets, lookup) => {
          let base = placedMesh(sets[0]!);
          let index = new ScopeIndex(base);
          const lookups = new Set([lookup]);
          selected(index, agent('n1'), lookups); // builds the lazy tables
          for (const p of sets.slice(1)) {
            const next = placedMesh(p);
            index = index.advance(next, base, changedNames(base, next));
            for (const n of ['n1', 'n2'])
              expect(selected(index, agent(n), lookups)).toEqual(selected(new ScopeIndex(next), agent(n), lookups));
            base = next;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("an on-demand agent selects its node's workloads and what its lookups resolve to, nothing else", () => {
    const set = placedMesh([
      { node: 'n1', ip: 1, app: 0 },
      { node: 'n2', ip: 2, app: 1 },
      { node: 'n3', ip: 3, app: 2 },
    ]);
    const got = selected(new ScopeIndex(set), agent('n1'), new Set(['10.96.0.1']));
    expect(got.workloads).toEqual(['Pod/ns0/w0', 'Pod/ns1/w1']);
    expect(got.services).toEqual(['ns1/a1.ns1.svc.cluster.local']);
  });
});
