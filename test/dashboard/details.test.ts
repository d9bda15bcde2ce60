// What the page shows for a clicked node: the policies and routes the agent's and the
// waypoint's config dumps hold for it (proxy-config's tables), the Istio objects of the
// mesh's folder that concern it, and analyze's findings about those objects.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { details, type DetailsContext } from '../../ctl/dashboard/details.js';
import { REPO } from '../support/local-mesh.js';

const NS = 'coffee-shop';
const wl = (name: string, app: string, version = 'v1') => ({
  uid: `Pod/${NS}/${name}-0`,
  name: `${name}-0`,
  namespace: NS,
  labels: { 'service.istio.io/workload-name': name, app, version },
});
const policies = {
  authorization: [
    {
      key: `${NS}/payment-service`,
      name: 'payment-service',
      scope: { namespace: NS, level: 'workload', selector: { app: 'payment-service' } },
      action: 'ALLOW',
      rules: [{ from: [{ principals: [`cluster.local/ns/${NS}/sa/order-service`] }] }],
    },
  ],
  peerAuthentication: [
    { key: `${NS}/default`, name: 'default', scope: { namespace: NS, level: 'namespace' }, mode: 'STRICT' },
  ],
};
const AGENT_DUMP = {
  workloads: [
    wl('payment-service', 'payment-service'),
    wl('customer-service-v1', 'customer-service'),
    wl('customer-service-v2', 'customer-service', 'v2'),
  ],
  services: [
    {
      name: 'payment-service',
      namespace: NS,
      hostname: `payment-service.${NS}.svc.cluster.local`,
      endpoints: [{ workloadUid: `Pod/${NS}/payment-service-0`, labels: { app: 'payment-service' } }],
      waypoint: { name: 'waypoint', namespace: NS },
    },
    {
      name: 'customer-service',
      namespace: NS,
      hostname: `customer-service.${NS}.svc.cluster.local`,
      endpoints: [
        { workloadUid: `Pod/${NS}/customer-service-v1-0`, labels: { app: 'customer-service', version: 'v1' } },
      ],
      waypoint: { name: 'waypoint', namespace: NS },
    },
  ],
  policies,
};
const WAYPOINT_DUMP = {
  routes: [
    {
      name: `customer-service.${NS}.svc.cluster.local:8080`,
      host: `customer-service.${NS}.svc.cluster.local`,
      routes: [
        {
          source: `${NS}/customer-service`,
          matches: [],
          destinations: [
            { host: `customer-service.${NS}.svc.cluster.local`, subset: 'v1', port: 8080, weight: 70 },
            { host: `customer-service.${NS}.svc.cluster.local`, subset: 'v2', port: 8080, weight: 30 },
          ],
        },
      ],
    },
    {
      name: `payment-service.${NS}.svc.cluster.local:8080`,
      host: `payment-service.${NS}.svc.cluster.local`,
      routes: [
        {
          source: 'default',
          matches: [],
          destinations: [{ host: `payment-service.${NS}.svc.cluster.local`, port: 8080, weight: 100 }],
        },
      ],
    },
  ],
  authorizationPolicies: policies.authorization,
};

const BAD_CANARY = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: customer-canary, namespace: ${NS} }
spec:
  hosts: [customer-service]
  http:
    - route:
        - destination: { host: customer-service, subset: v9 }
`;

describe('dashboard details', () => {
  let dir: string;
  let ctx: DetailsContext;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-dashboard-details-'));
    await cp(path.join(REPO, 'examples', NS), dir, { recursive: true });
    await writeFile(path.join(dir, 'canary.yaml'), BAD_CANARY);
    ctx = {
      agentDump: AGENT_DUMP,
      waypointDumps: [{ namespace: NS, name: 'waypoint', dump: WAYPOINT_DUMP }],
      configDir: dir,
    };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a service: its workloads' policies, its routes, its objects and analyze's findings on them", async () => {
    const d = await details(`svc:${NS}/customer-service`, ctx);
    expect(d.routes.rows.map((r) => r[0])).toEqual([`customer-service.${NS}.svc.cluster.local:8080`]);
    expect(d.routes.rows[0]!.join(' ')).toContain('70%');
    // The payment-service policy selects other pods: not listed; the namespace's PeerAuthentication is.
    expect(d.policies.rows.map((r) => `${r[0]}/${r[1]}`)).toEqual(['PeerAuthentication/default']);
    const keys = d.objects.map((o) => o.key);
    for (const k of [
      `Service/${NS}/customer-service`,
      `VirtualService/${NS}/customer-service`,
      `DestinationRule/${NS}/customer-service`,
      `VirtualService/${NS}/customer-canary`,
      `PeerAuthentication/${NS}/default`,
    ])
      expect(keys).toContain(k);
    expect(keys).not.toContain(`AuthorizationPolicy/${NS}/payment-service`);
    // The undefined subset (IST0101), and the two VirtualServices for one mesh host, each naming both (IST0109).
    expect(d.findings).toHaveLength(3);
    expect(
      d.findings.filter((f) => /^VirtualService\/coffee-shop\/customer-canary: .*subset "v9"/.test(f)),
    ).toHaveLength(1);
    expect(
      d.findings.filter((f) => /IST0109.*coffee-shop\/customer-canary,coffee-shop\/customer-service/.test(f)),
    ).toHaveLength(2);
  });

  it("a workload, and an edge (its destination's details)", async () => {
    const w = await details(`wl:${NS}/payment-service`, ctx);
    expect(w.policies.rows.map((r) => `${r[0]}/${r[1]}/${r[3]}`)).toEqual([
      'AuthorizationPolicy/payment-service/ALLOW',
      'PeerAuthentication/default/STRICT',
    ]);
    expect(w.objects.map((o) => o.key)).toContain(`AuthorizationPolicy/${NS}/payment-service`);
    expect(w.findings).toEqual([]);
    const e = await details(`wl:${NS}/inventory-service->svc:${NS}/payment-service`, ctx);
    expect(e.policies.rows.map((r) => r[1])).toContain('payment-service');
    expect(e.routes.rows.map((r) => r[0])).toEqual([`payment-service.${NS}.svc.cluster.local:8080`]);
  });

  it('says what is missing without a mesh', async () => {
    const d = await details(`svc:${NS}/payment-service`, { waypointDumps: [] });
    expect(d.objects).toEqual([]);
    expect(d.notes.join(' ')).toMatch(/admin endpoint did not answer/);
    expect(d.notes.join(' ')).toMatch(/need a local mesh/);
    expect((await details('ns:coffee-shop', ctx)).notes).toEqual(['no details for this node']);
  });
});
