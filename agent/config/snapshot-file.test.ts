import { describe, expect, it } from 'vitest';
import {
  TYPE_AUTHORIZATION_POLICY,
  TYPE_SERVICE,
  TYPE_WORKLOAD,
  assembleSnapshot,
  decodeResource,
  snapshotResources,
} from '../../core/xds/resources.js';
import { parseSnapshotText, snapshotFromDocument } from './snapshot-file.js';

describe('mesh snapshot file', () => {
  it('reads YAML with defaults for omitted lists, mesh config and identities', () => {
    const s = parseSnapshotText(
      `
workloads:
  - { name: web-1, namespace: shop, serviceAccount: web, ips: [10.0.0.5], enrolled: true }
services:
  - name: web
    namespace: shop
    vips: [10.96.0.10]
    ports: [{ port: 80, targetPort: 8080 }]
    endpoints: [{ address: 10.0.0.5 }]
`,
      'abc',
      'mesh.yaml',
    );
    expect(s.version).toBe('abc');
    expect(s.mesh.trustDomain).toBe('cluster.local');
    expect(s.mesh.outboundTrafficPolicy).toBe('ALLOW_ANY');
    expect(s.authorizationPolicies).toEqual([]);
    expect(s.workloads[0]).toMatchObject({
      uid: 'Pod/shop/web-1',
      identity: 'spiffe://cluster.local/ns/shop/sa/web',
      enrolled: true,
      labels: {},
    });
    expect(s.services[0]).toMatchObject({
      key: 'shop/web.shop.svc.cluster.local',
      hostname: 'web.shop.svc.cluster.local',
    });
    expect(s.services[0]!.ports[0]).toEqual({ port: 80, targetPort: 8080, protocol: 'tcp' });
  });

  it('reads JSON and keeps the given version', () => {
    const s = parseSnapshotText(
      JSON.stringify({
        version: 'v7',
        mesh: { trustDomain: 'example.org' },
        workloads: [{ name: 'a', namespace: 'n', ips: [] }],
      }),
      'x',
      'm.json',
    );
    expect(s.version).toBe('v7');
    expect(s.workloads[0]!.identity).toBe('spiffe://example.org/ns/n/sa/default');
    expect(s.workloads[0]!.enrolled).toBe(false);
  });

  it('names the field at fault', () => {
    expect(() => parseSnapshotText('workloads: [{ name: a, namespace: n, ips: [not-an-ip] }]', 'x', 'f.yaml')).toThrow(
      /f\.yaml: workloads\[0\]\.ips\[0\]: not an IP address/,
    );
    expect(() =>
      parseSnapshotText('services: [{ name: s, namespace: n, ports: [{ port: 70000 }] }]', 'x', 'f.yaml'),
    ).toThrow(/services\[0\]\.ports\[0\]\.port: not a port number/);
    expect(() =>
      parseSnapshotText(
        'authorizationPolicies: [{ name: p, scope: { namespace: n, level: namespace }, action: MAYBE }]',
        'x',
        'f',
      ),
    ).toThrow(/authorizationPolicies\[0\]\.action/);
    expect(() => parseSnapshotText('mesh: { outboundTrafficPolicy: SOMETIMES }', 'x', 'f')).toThrow(
      /mesh\.outboundTrafficPolicy/,
    );
    expect(() => parseSnapshotText('{ not yaml', 'x', 'f')).toThrow(/not JSON or YAML/);
    expect(() => parseSnapshotText('- a list', 'x', 'f')).toThrow(/snapshot: expected an object/);
  });

  // The file path fills in what a hand-written file may omit, then both paths run the same
  // decoder (core/model/decode-mesh.ts): same verdict, same field named.
  const FILE = `
mesh: { trustDomain: example.org }
workloads:
  - { name: web-1, namespace: shop, serviceAccount: web, ips: [10.0.0.5, "fd00::5"], enrolled: true, labels: { app: web } }
  - { name: vm, namespace: shop, kind: WorkloadEntry, ips: [vm.example.com] }
services:
  - { name: db, namespace: shop, hostname: db.example.com, resolution: DNS, vips: [240.240.0.0/16],
      ports: [{ port: 5432 }], endpoints: [{ address: db.example.com }] }
  - { name: web, namespace: shop, vips: [10.96.0.10], ports: [{ port: 80, targetPort: 8080, protocol: http }] }
authorizationPolicies:
  - { name: deny, scope: { namespace: shop, level: namespace }, action: DENY, rules: [{}] }
peerAuthentications:
  - { name: strict, scope: { namespace: shop, level: namespace }, mode: STRICT, portLevel: { "8080": PERMISSIVE } }
sidecarScopes:
  - { key: shop/default, scope: { namespace: shop, level: namespace }, egressHosts: ["./*"], visibleServices: [] }
namespaces:
  - { name: shop, labels: { istio.io/dataplane-mode: ambient } }
`;

  it('a snapshot read from a file passes discovery resource by resource and assembles back equal', () => {
    const fromFile = parseSnapshotText(FILE, 'v1', 'mesh.yaml');
    const resources = snapshotResources(fromFile);
    const received = new Map(
      [...resources].map(([type, byName]) => [
        type,
        new Map([...byName].map(([name, value]) => [name, decodeResource(type, name, JSON.stringify(value))])),
      ]),
    );
    const { version: _v, ...rest } = fromFile;
    expect(assembleSnapshot('v1', received)).toMatchObject({ version: 'v1', ...rest });
    expect(fromFile.workloads.map((w) => w.uid)).toEqual(['Pod/shop/web-1', 'WorkloadEntry/shop/vm']);
  });

  it.each([
    ['workloads', TYPE_WORKLOAD, { ips: ['10.0.0.1', 'nope'] }, 'ips[1]'],
    ['workloads', TYPE_WORKLOAD, { labels: { app: 7 } }, 'labels.app'],
    ['workloads', TYPE_WORKLOAD, { enrolled: 'yes' }, 'enrolled'],
    ['services', TYPE_SERVICE, { ports: [{ port: 80, targetPort: 70000 }] }, 'ports[0].targetPort'],
    [
      'services',
      TYPE_SERVICE,
      { resolution: 'STATIC', endpoints: [{ address: 'db.example.com' }] },
      'endpoints[0].address',
    ],
    ['services', TYPE_SERVICE, { vips: ['10.96.0.300'] }, 'vips[0]'],
    ['services', TYPE_SERVICE, { resolution: 'MAGIC' }, 'resolution'],
    ['authorizationPolicies', TYPE_AUTHORIZATION_POLICY, { scope: { namespace: 'shop', level: 'x' } }, 'scope.level'],
    ['authorizationPolicies', TYPE_AUTHORIZATION_POLICY, { rules: [3] }, 'rules[0]'],
  ])('file and discovery refuse the same bad %s field (%s: %j)', (list, type, change, field) => {
    const good = parseSnapshotText(FILE, 'v1', 'mesh.yaml');
    const items = (good as unknown as Record<string, readonly { key?: string; uid?: string }[]>)[list]!;
    const bad = { ...items[0]!, ...change };
    const name = bad.uid ?? bad.key ?? 'r';
    const escaped = field.replace(/[[\].]/g, '\\$&');
    expect(() => snapshotFromDocument({ ...good, [list]: [bad] }, 'v2')).toThrow(
      new RegExp(`^${list}\\[0\\]\\.${escaped}: `),
    );
    expect(() => decodeResource(type, name, JSON.stringify(bad))).toThrow(new RegExp(`: field ${escaped}: `));
  });
});
