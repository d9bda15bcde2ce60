// Test support for the scope and push tests: a small mesh of workloads placed on nodes, three
// services selecting them by app, encoded as the controller encodes a translate result.
import type { Service, Workload } from '../../core/model/types.js';
import { snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { buildResourceSet, type ResourceSet } from './resources.js';

export interface Placement {
  readonly node: string;
  readonly ip: number;
  readonly app: number;
}

/** Workload i on `node` with IP 10.0.0.<ip> and app a<app>; services a0..a2 (VIPs 10.96.0.0-2). */
export function placedMesh(placement: readonly Placement[]): ResourceSet {
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
