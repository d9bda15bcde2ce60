import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Workload } from '../../core/model/types.js';
import { snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { buildResourceSet, changedNames } from './resources.js';

const workloads = fc
  .uniqueArray(fc.record({ name: fc.integer({ min: 0, max: 9 }), ip: fc.integer({ min: 1, max: 3 }) }), {
    selector: (w) => w.name,
    maxLength: 8,
  })
  .map((list) =>
    list
      .map((w): Workload => ({ ...workload(`w${w.name}`), ips: [`10.0.0.${w.ip}`] }))
      .sort((a, b) => (a.uid < b.uid ? -1 : 1)),
  );

describe('resource sets', () => {
  it('the names found changed while encoding equal a comparison of both sets', () => {
    fc.assert(
      fc.property(workloads, workloads, (a, b) => {
        const before = buildResourceSet({ snapshot: snapshot({ workloads: a }), waypoints: new Map() });
        const after = buildResourceSet({ snapshot: snapshot({ workloads: b }), waypoints: new Map() }, before);
        // The same content encoded afresh (new lists, no previous set): compared name by name.
        const fresh = buildResourceSet({ snapshot: snapshot({ workloads: [...b] }), waypoints: new Map() });
        const sorted = (m: Map<string, string[]>) => [...m].map(([t, n]) => [t, [...n].sort()]).sort();
        expect(sorted(changedNames(before, after))).toEqual(sorted(changedNames(before, fresh)));
      }),
      { numRuns: 300 },
    );
  });
});
