import { describe, expect, it } from 'vitest';
import { translate } from '../../controller/translate/index.js';
import { generateMesh, podIp, scaleUpPod } from './objects.js';

describe('bench/controller objects', () => {
  const shape = { services: 400, nodes: 20 };
  const objects = generateMesh(shape);

  it('translate accepts every generated object: N services with 5 endpoints each, policies, waypoints', () => {
    const r = translate(objects, { mesh: { trustDomain: 'cluster.local' } });
    expect(r.rejected).toEqual([]);
    expect(r.snapshot.services).toHaveLength(400);
    expect(r.snapshot.workloads).toHaveLength(2000);
    expect(r.snapshot.services.every((s) => s.endpoints.length === 5)).toBe(true);
    // one DENY per namespace (10) + an ALLOW for every 20th service (20)
    expect(r.snapshot.authorizationPolicies).toHaveLength(30);
    expect(r.snapshot.peerAuthentications.map((p) => p.mode)).toEqual(Array(10).fill('STRICT'));
    expect([...r.waypoints.keys()].sort()).toEqual(['bench0', 'bench1']);
    expect(new Set(r.snapshot.workloads.map((w) => w.node)).size).toBe(20);
  });

  it('pod IPs are distinct across 50k services × 5 pods and the scale-up pods after them', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 250_010; i++) seen.add(podIp(i));
    expect(seen.size).toBe(250_010);
    expect(podIp(0)).toBe('10.64.0.1');
  });

  it('a scale-up pod adds one endpoint to its service and one workload', () => {
    const r = translate([...objects, scaleUpPod(shape, 7, 0)], { mesh: { trustDomain: 'cluster.local' } });
    expect(r.rejected).toEqual([]);
    expect(r.snapshot.workloads).toHaveLength(2001);
    const svc = r.snapshot.services.find((s) => s.hostname.startsWith('svc7.'));
    expect(svc?.endpoints).toHaveLength(6);
  });
});
