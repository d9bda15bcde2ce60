// A client on demand pushed through random mesh changes and new lookups, ACKing every response:
// after each push, what it holds (its responses applied in order) is exactly what its scope
// selects from the current set, whether the push diffed the changed names only (in step, or
// a scope that moved by its lookups' resolution) or compared its whole scope.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { DeltaResponse, NodeInfo } from '../../core/xds/proto.js';
import { createLogger } from '../../core/log.js';
import { AGENT_TYPES } from '../../core/xds/resources.js';
import { ClientConnection, type DiscoveryStream } from './connection.js';
import { changedNames, type ResourceSet } from './resources.js';
import { DISCOVERY_MODE_KEY, ON_DEMAND, ScopeIndex } from './scope.js';
import { placedMesh } from './scope-fixtures.js';

const NODE: NodeInfo = { name: 'n1', role: 'agent', namespace: '', metadata: { [DISCOVERY_MODE_KEY]: ON_DEMAND } };

const placement = fc.array(
  fc.record({
    node: fc.constantFrom('n1', 'n2'),
    ip: fc.integer({ min: 1, max: 6 }),
    app: fc.integer({ min: 0, max: 2 }),
  }),
  { maxLength: 6 },
);
const lookup = fc.option(
  fc.constantFrom('10.96.0.0', '10.96.0.1', 'a2.ns0.svc.cluster.local', '10.0.0.3', '10.0.0.5'),
  {
    nil: undefined,
  },
);

describe('on-demand client pushes', () => {
  it('after every push the client holds exactly what its scope selects', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(placement, lookup), { minLength: 1, maxLength: 6 }), (steps) => {
        const written: DeltaResponse[] = [];
        const stream = {
          write: (r: DeltaResponse) => written.push(r),
          end: () => undefined,
        } as unknown as DiscoveryStream;
        const conn = new ClientConnection(1, NODE, stream, createLogger('test'));
        for (const t of AGENT_TYPES) conn.subscribe(t, {});
        const client = new Map<string, Map<string, string>>(AGENT_TYPES.map((t) => [t, new Map()]));
        let base: ResourceSet | undefined;
        let index: ScopeIndex | undefined;
        for (const [p, name] of steps) {
          if (name) conn.subscribeNames([name]);
          const set = placedMesh(p);
          const delta = base ? { base, changed: changedNames(base, set) } : undefined;
          index = index && delta ? index.advance(set, delta.base, delta.changed) : new ScopeIndex(set);
          const scope = index.scopeFor(NODE, conn.onDemand);
          conn.push(set, 'v', scope, delta);
          for (const r of written.splice(0)) {
            const held = client.get(r.typeUrl)!;
            for (const x of r.resources) held.set(x.name, x.version);
            for (const n of r.removedResources) held.delete(n);
            conn.acknowledge({ typeUrl: r.typeUrl, responseNonce: r.nonce, initialVersions: {} } as never);
          }
          for (const t of AGENT_TYPES) {
            const want = [...(set.get(t) ?? new Map())]
              .filter(([n, r]) => scope.includes(t, n, r))
              .map(([n, r]) => [n, r.version])
              .sort();
            expect([...client.get(t)!].sort(), t).toEqual(want);
          }
          base = set;
        }
      }),
      { numRuns: 300 },
    );
  });
});
