import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KubeObject } from '../sources/types.js';
import { translate } from './index.js';
import { IncrementalTranslator } from './incremental.js';
import { buildResourceSet, type ResourceSet } from '../push/resources.js';

// A small mesh with every way a pod reaches the result: selector services (one with a named
// target port), a service with an EndpointSlice, a ServiceEntry selecting workloads, a
// namespace with a waypoint and a VirtualService/DestinationRule (waypoint config clusters),
// an Istio Gateway routing to a service, a Sidecar, and a Deployment (local-mode replicas).
function baseMesh(): KubeObject[] {
  const out: KubeObject[] = [];
  for (const ns of ['a', 'b']) {
    out.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: ns,
        labels: { 'mesh-mode': 'ambient', ...(ns === 'a' ? { 'mesh-waypoint': 'waypoint' } : {}) },
      },
    });
  }
  out.push({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'a' },
    spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  for (const n of ['n1', 'n2'])
    out.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n, labels: { 'topology.kubernetes.io/zone': `z-${n}` } },
    });
  for (const ns of ['a', 'b']) {
    for (const app of ['web', 'api', 'db']) {
      out.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: app, namespace: ns },
        spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: app === 'api' ? 'web' : 8080 }] },
      });
    }
  }
  out.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'sliced', namespace: 'b' },
    spec: { ports: [{ name: 'http', port: 80 }] },
  });
  out.push({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'sliced-1', namespace: 'b', labels: { 'kubernetes.io/service-name': 'sliced' } },
    ports: [{ name: 'http', port: 8080 }],
    endpoints: [0, 1, 2].map((i) => ({ addresses: [`10.1.0.${i + 1}`], targetRef: { kind: 'Pod', name: `p${i}` } })),
  });
  out.push({
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'vm', namespace: 'b' },
    spec: {
      hosts: ['vm.example.internal'],
      location: 'MESH_INTERNAL',
      ports: [{ number: 80, name: 'http' }],
      workloadSelector: { labels: { app: 'db' } },
      resolution: 'STATIC',
    },
  });
  out.push({
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'web', namespace: 'a' },
    spec: { host: 'web', subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
  });
  out.push({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'web', namespace: 'a' },
    spec: { hosts: ['web'], http: [{ route: [{ destination: { host: 'web', subset: 'v1' } }] }] },
  });
  out.push({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name: 'ingress', namespace: 'b' },
    spec: {
      selector: { istio: 'ingress' },
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    },
  });
  out.push({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'ingress', namespace: 'b' },
    spec: {
      hosts: ['*'],
      gateways: ['ingress'],
      http: [{ route: [{ destination: { host: 'api.b.svc.cluster.local' } }] }],
    },
  });
  out.push({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Sidecar',
    metadata: { name: 'default', namespace: 'b' },
    spec: { egress: [{ hosts: ['./*'] }] },
  });
  out.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'dep', namespace: 'b', annotations: { 'ambit.dev/pod-ips': '10.9.0.1,10.9.0.2' } },
    spec: {
      replicas: 2,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 8081 }] }] },
      },
    },
  });
  return out;
}

interface PodShape {
  ns: 'a' | 'b';
  name: number;
  app: string;
  version: string;
  ip: number;
  node: string;
  phase: string;
  ready: boolean;
  port: number;
  extra?: string;
}

function pod(p: PodShape): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `p${p.name}`,
      namespace: p.ns,
      labels: { app: p.app, version: p.version, ...(p.extra ? { 'mesh-waypoint': p.extra } : {}) },
    },
    spec: {
      nodeName: p.node,
      serviceAccountName: `sa-${p.app}`,
      containers: [{ name: 'c', ports: [{ name: 'web', containerPort: p.port }] }],
    },
    status: {
      phase: p.phase,
      podIP: `10.1.0.${p.ip}`,
      conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }],
    },
  };
}

const podShape = fc.record({
  ns: fc.constantFrom<'a' | 'b'>('a', 'b'),
  name: fc.integer({ min: 0, max: 7 }),
  app: fc.constantFrom('web', 'api', 'db', 'other'),
  version: fc.constantFrom('v1', 'v2'),
  ip: fc.integer({ min: 1, max: 12 }),
  node: fc.constantFrom('n1', 'n2', 'n3'),
  phase: fc.constantFrom('Running', 'Running', 'Running', 'Pending', 'Succeeded'),
  ready: fc.boolean(),
  port: fc.constantFrom(8080, 9090),
  extra: fc.option(fc.constantFrom('waypoint', 'missing'), { nil: undefined }),
});

/** A change: put (add or replace) a pod, delete a pod, or a non-pod edit (full path). */
const change = fc.oneof(
  { weight: 6, arbitrary: podShape.map((p) => ({ kind: 'put' as const, p })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ ns: fc.constantFrom('a', 'b'), name: fc.integer({ min: 0, max: 7 }) })
      .map((d) => ({ kind: 'delete' as const, ...d })),
  },
  { weight: 1, arbitrary: fc.constantFrom('web', 'api', 'db').map((app) => ({ kind: 'service' as const, app })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'invalid-pod' as const }) },
  // EndpointSlices: replaced, added, deleted, for a service with no selector, one with a
  // selector, a service that does not exist; a slice moving to another service.
  {
    weight: 3,
    arbitrary: fc
      .record({
        name: fc.constantFrom('sliced-1', 'sliced-2'),
        svc: fc.constantFrom('sliced', 'sliced', 'web', 'none'),
        del: fc.boolean(),
        eps: fc.array(
          fc.record({ ip: fc.integer({ min: 1, max: 12 }), pod: fc.integer({ min: 0, max: 7 }), ready: fc.boolean() }),
          { maxLength: 4 },
        ),
      })
      .map((c) => ({ kind: 'slice' as const, ...c })),
  },
);

describe('incremental translation', () => {
  it('equals the full translation after every random change (pods, deletes, other objects, invalid pods)', () => {
    const modes = { full: 0, incremental: 0, unchanged: 0 };
    fc.assert(
      fc.property(
        fc.array(podShape, { maxLength: 10 }),
        fc.array(fc.array(change, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        (initial, steps) => {
          // The object list as the controller's store keeps it: keyed, a replaced object keeps its place.
          const store = new Map<string, KubeObject>();
          for (const o of baseMesh()) store.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o);
          for (const p of initial) store.set(`Pod/${p.ns}/p${p.name}`, pod(p));
          const inc = new IncrementalTranslator();
          const opts = { defaultNode: 'n1' };
          const first = inc.translate([...store.values()], opts);
          expect(first).toEqual(translate([...store.values()], opts));
          // The encoded resources follow the incremental results (copied and patched where the
          // translator says what changed) and equal a fresh encoding of the full translation.
          let set = buildResourceSet(first);
          const versions = (rs: ResourceSet) =>
            [...rs].map(([t, m]) => [t, [...m].map(([n, r]) => [n, r.version]).sort()] as const).sort();
          for (const step of steps) {
            for (const c of step) {
              if (c.kind === 'put') store.set(`Pod/${c.p.ns}/p${c.p.name}`, pod(c.p));
              else if (c.kind === 'delete') store.delete(`Pod/${c.ns}/p${c.name}`);
              else if (c.kind === 'slice' && c.del) store.delete(`EndpointSlice/b/${c.name}`);
              else if (c.kind === 'slice') {
                store.set(`EndpointSlice/b/${c.name}`, {
                  apiVersion: 'discovery.k8s.io/v1',
                  kind: 'EndpointSlice',
                  metadata: { name: c.name, namespace: 'b', labels: { 'kubernetes.io/service-name': c.svc } },
                  ports: [{ name: 'http', port: 8080 }],
                  endpoints: c.eps.map((e) => ({
                    addresses: [`10.1.0.${e.ip}`],
                    conditions: { ready: e.ready },
                    targetRef: { kind: 'Pod', name: `p${e.pod}` },
                  })),
                });
              } else if (c.kind === 'invalid-pod')
                store.set('Pod/b/bad', {
                  apiVersion: 'v1',
                  kind: 'Pod',
                  metadata: { name: 'bad', namespace: 'b', labels: { app: 'x'.repeat(70) } },
                });
              else {
                const key = `Service/b/${c.app}`;
                const svc = store.get(key)!;
                store.set(key, {
                  ...svc,
                  metadata: { ...svc.metadata, labels: { edited: String(Math.random() < 0.5) } },
                });
              }
            }
            const objects = [...store.values()];
            const full = translate(objects, opts);
            const got = inc.translate(objects, opts);
            expect(got).toEqual(full);
            expect(got.snapshot.version).toBe(full.snapshot.version);
            set = buildResourceSet(got, set);
            expect(versions(set)).toEqual(versions(buildResourceSet(full)));
            modes[inc.lastMode]++;
          }
        },
      ),
      { numRuns: 150 },
    );
    // The property is about the incremental path: it must have been taken most of the time.
    expect(modes.incremental).toBeGreaterThan(modes.full);
  });

  it('a pod change takes the incremental path and rebuilds only what the pod affects', () => {
    const objects = baseMesh();
    const p0 = pod({
      ns: 'b',
      name: 0,
      app: 'db',
      version: 'v1',
      ip: 1,
      node: 'n1',
      phase: 'Running',
      ready: true,
      port: 8080,
    });
    const inc = new IncrementalTranslator();
    const first = inc.translate([...objects, p0]);
    expect(inc.lastMode).toBe('full');
    const moved = pod({
      ns: 'b',
      name: 0,
      app: 'db',
      version: 'v1',
      ip: 2,
      node: 'n2',
      phase: 'Running',
      ready: true,
      port: 8080,
    });
    const second = inc.translate([...objects, moved]);
    expect(inc.lastMode).toBe('incremental');
    expect(second).toEqual(translate([...objects, moved]));
    // Services the pod is not selected by keep their very objects; the selecting one is rebuilt.
    const byKey = (r: typeof first, key: string) => r.snapshot.services.find((s) => s.key === key);
    expect(byKey(second, 'b/web.b.svc.cluster.local')).toBe(byKey(first, 'b/web.b.svc.cluster.local'));
    expect(byKey(second, 'b/db.b.svc.cluster.local')).not.toBe(byKey(first, 'b/db.b.svc.cluster.local'));
    expect(byKey(second, 'b/db.b.svc.cluster.local')!.endpoints.map((e) => e.address)).toEqual(['10.1.0.2']);
    // Namespace a's waypoint config does not carry namespace b's db: the same object.
    expect(second.waypoints.get('a')).toBe(first.waypoints.get('a'));
    // The same objects again: the previous result as it is.
    expect(inc.translate([...objects, moved])).toBe(second);
    expect(inc.lastMode).toBe('unchanged');
  });
});
