// ServiceEntry hosts without addresses get auto VIPs (Istio's DNS auto-allocation), stable
// across translations, switched by the mesh's ISTIO_META_DNS_AUTO_ALLOCATE.
import { describe, expect, it } from 'vitest';
import { translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { allocateAutoVips } from '../../core/dns/vip-allocation.js';

const se = (name: string, spec: string, labels = '{}'): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: shop, labels: ${labels} }
spec:
${spec.replace(/^/gm, '  ')}
`;

const mesh = (meta: string): string => `---
apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    defaultConfig: { proxyMetadata: { ${meta} } }
`;

const ENTRIES =
  se(
    'api',
    'hosts: [api.example.com, api2.example.com]\nresolution: DNS\nports: [{ number: 443, name: tls, protocol: TLS }]',
  ) +
  se(
    'db',
    'hosts: [db.internal]\nresolution: STATIC\nports: [{ number: 5432, name: tcp }]\nendpoints: [{ address: 10.1.2.3 }]',
  ) +
  se(
    'fixed',
    'hosts: [fixed.internal]\naddresses: [240.240.9.9]\nresolution: STATIC\nports: [{ number: 80, name: http }]\nendpoints: [{ address: 10.1.2.4 }]',
  ) +
  se('wild', 'hosts: ["*.wild.com"]\nresolution: NONE\nports: [{ number: 80, name: http }]') +
  se('none', 'hosts: [none.example.com]\nresolution: NONE\nports: [{ number: 80, name: http }]') +
  se(
    'optout',
    'hosts: [out.example.com]\nresolution: DNS\nports: [{ number: 80, name: http }]',
    `{ "networking.istio.io/enable-autoallocate-ip": "false" }`,
  );

const vipsOf = (yaml: string): Record<string, readonly string[]> =>
  Object.fromEntries(translate(yamlObjects(yaml)).snapshot.services.map((s) => [s.key, s.vips]));

describe('ServiceEntry auto VIPs', () => {
  it('allocates an IPv4 and IPv6 pair for DNS and STATIC hosts without addresses, with the core function', () => {
    const vips = vipsOf(ENTRIES);
    const expected = allocateAutoVips(
      ['shop/api.example.com', 'shop/api2.example.com', 'shop/db.internal'],
      ['240.240.9.9'],
    );
    expect(vips['shop/api.example.com']).toEqual([...expected.get('shop/api.example.com')!]);
    expect(vips['shop/api2.example.com']).toEqual([...expected.get('shop/api2.example.com')!]);
    expect(vips['shop/db.internal']).toEqual([...expected.get('shop/db.internal')!]);
    expect(vips['shop/fixed.internal']).toEqual(['240.240.9.9']);
    expect(vips['shop/*.wild.com']).toEqual([]);
    expect(vips['shop/none.example.com']).toEqual([]);
    expect(vips['shop/out.example.com']).toEqual([]);
    expect(vips['shop/api.example.com']![0]).toMatch(/^240\.240\./);
  });

  it('gives the same addresses on every translation and whatever other objects come and go', () => {
    const first = vipsOf(ENTRIES);
    const again = vipsOf(ENTRIES);
    expect(again).toEqual(first);
    const withOther = vipsOf(
      ENTRIES + se('more', 'hosts: [more.example.com]\nresolution: DNS\nports: [{ number: 80, name: http }]'),
    );
    expect(withOther['shop/api.example.com']).toEqual(first['shop/api.example.com']);
    expect(withOther['shop/db.internal']).toEqual(first['shop/db.internal']);
  });

  it('reads ISTIO_META_DNS_AUTO_ALLOCATE and ISTIO_META_DNS_CAPTURE from the mesh config', () => {
    const off = translate(
      yamlObjects(mesh('ISTIO_META_DNS_AUTO_ALLOCATE: "false", ISTIO_META_DNS_CAPTURE: "false"') + ENTRIES),
    );
    expect(off.rejected).toEqual([]);
    expect(off.snapshot.mesh.dnsAutoAllocate).toBe(false);
    expect(off.snapshot.mesh.dnsCapture).toBe(false);
    expect(off.snapshot.services.find((s) => s.key === 'shop/api.example.com')?.vips).toEqual([]);
    const bad = translate(yamlObjects(mesh('ISTIO_META_DNS_CAPTURE: maybe') + ENTRIES));
    expect(JSON.stringify(bad.rejected)).toContain('ISTIO_META_DNS_CAPTURE');
  });
});
