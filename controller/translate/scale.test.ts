import { describe, expect, it } from 'vitest';
import { translate } from './index.js';
import type { KubeObject } from '../sources/types.js';
import { canarySplit } from '../../test/support/canary-split.js';

// Many services (5 pods each) in a few namespaces with a waypoint: translate must stay
// close to linear. Asserts the shape, not the time (speed belongs to bench/).
function mesh(services: number): KubeObject[] {
  const out: KubeObject[] = [];
  const namespaces = 10;
  for (let n = 0; n < namespaces; n++) {
    out.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: `ns${n}`, labels: { 'mesh-mode': 'ambient', 'mesh-waypoint': 'wp' } },
    });
    out.push({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'wp', namespace: `ns${n}` },
      spec: { gatewayClassName: 'ambit-waypoint' },
    });
  }
  for (let i = 0; i < services; i++) {
    const ns = `ns${i % namespaces}`;
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${i}`, namespace: ns },
      spec: { selector: { app: `svc${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    for (let p = 0; p < 5; p++) {
      out.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `svc${i}-${p}`, namespace: ns, labels: { app: `svc${i}`, version: p < 3 ? 'v1' : 'v2' } },
        spec: {},
        status: { podIP: `10.${(i >> 8) & 255}.${i & 255}.${p + 1}` },
      });
    }
    if (i % 10 === 0) {
      out.push(...canarySplit(ns, `svc${i}`));
    }
  }
  return out;
}

describe('translate at scale', () => {
  it('translates 5000 services with 25000 pods, subsets and routes', () => {
    const result = translate(mesh(5000));
    expect(result.rejected).toEqual([]);
    expect(result.snapshot.services).toHaveLength(5000);
    expect(result.snapshot.workloads).toHaveLength(25_000);
    expect(result.snapshot.services.every((s) => s.endpoints.length === 5)).toBe(true);
    const wp = result.waypoints.get('ns0');
    expect(wp?.virtualHosts).toHaveLength(500);
    const routed = wp?.virtualHosts.find((v) => v.host === 'svc0.ns0.svc.cluster.local');
    expect(routed?.routes[0]?.destinations?.map((d) => d.weight)).toEqual([90, 10]);
    expect(wp?.clusters.find((c) => c.name === 'outbound|80|v2|svc0.ns0.svc.cluster.local')?.endpoints).toHaveLength(2);
  });
});
