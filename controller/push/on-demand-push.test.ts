// A client on demand pushed through random mesh changes and new lookups, ACKing every response:
// after each push, what it holds (its responses applied in order) is exactly what its scope
// selects from the current set, whether the push diffed the changed names only (in step, or
// a scope that moved by its lookups' resolution) or compared its whole scope.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Service, Workload } from '../../core/model/types.js';
import type { DeltaResponse, NodeInfo } from '../../core/xds/proto.js';
import { createLogger } from '../../core/log.js';
import { AGENT_TYPES } from '../../core/xds/resources.js';
import { snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { ClientConnection, type DiscoveryStream } from './connection.js';
import { buildResourceSet, changedNames, type ResourceSet } from './resources.js';
import { DISCOVERY_MODE_KEY, ON_DEMAND, ScopeIndex } from './scope.js';

const NODE: NodeInfo = { name: 'n1', role: 'agent', namespace: '', metadata: { [DISCOVERY_MODE_KEY]: ON_DEMAND } };

function mesh(placement: ReadonlyArray<{ node: string; ip: number; app: number }>): ResourceSet {
  const workloads: Workload[] = placement.map((p, i) => ({
    ...workload(`w${i}`, `ns${p.app % 2}`, p.node),
    ips: [`10.0.0.${p.ip}`],
    labels: { app: `a${p.app}` },
  }));
  const services: Service[] = [0, 1, 2].map((a) => ({
    key: `ns${a % 2}/a${a}.ns${a % 2}.svc.cluster.local`,
    name: `a${a}`,
    namespace: `ns${a % 2}`,
    hostname: `a${a}.ns${a % 2}.svc.cluster.local`,
    vips: [`10.96.0.${a}`],
    ports: [{ port: 80, targetPort: 8080, protocol: 'http' }],
    endpoints: workloads
      .filter((w) => w.labels.app === `a${a}`)
      .map((w) => ({ workloadUid: w.uid, address: w.ips[0]! })),
  }));
  return buildResourceSet({
    snapshot: snapshot({ workloads: workloads.sort((a, b) => (a.uid < b.uid ? -1 : 1)), services }),
    waypoints: new Map(),
  });
}

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
          const set = mesh(p);
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
