import { describe, expect, it } from 'vitest';
import { parseSnapshotText } from './snapshot-file.js';

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
});
