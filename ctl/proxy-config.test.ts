import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchDump, renderTable, sectionData } from './proxy-config.js';

const DUMP = {
  pods: [{ namespace: 'shop', name: 'web-0' }],
  workloads: [
    {
      uid: 'Pod/shop/web-0',
      name: 'web-0',
      namespace: 'shop',
      ips: ['10.244.0.2'],
      node: 'n1',
      identity: 'spiffe://cluster.local/ns/shop/sa/web',
      enrolled: true,
    },
    {
      uid: 'Pod/legacy/db-0',
      name: 'db-0',
      namespace: 'legacy',
      ips: ['10.244.0.3'],
      node: 'n2',
      identity: 'spiffe://cluster.local/ns/legacy/sa/default',
      enrolled: false,
    },
  ],
  services: [
    {
      name: 'web',
      namespace: 'shop',
      vips: ['10.96.0.7'],
      ports: [{ port: 80, targetPort: 8080, protocol: 'http' }],
      endpoints: [{}, {}],
    },
  ],
  policies: {
    authorization: [
      {
        name: 'allow-web',
        scope: { namespace: 'shop', level: 'workload', selector: { app: 'db' } },
        action: 'ALLOW',
        rules: [{ from: [{ principals: ['cluster.local/ns/shop/sa/web'] }], to: [{ ports: ['5432'] }] }],
      },
    ],
    peerAuthentication: [{ name: 'default', scope: { namespace: 'shop', level: 'namespace' }, mode: 'STRICT' }],
  },
  certificates: [
    {
      identity: 'spiffe://cluster.local/ns/shop/sa/web',
      notAfter: new Date(Date.now() + 2 * 3600_000 + 60_000).toISOString(),
    },
    { identity: 'x', notAfter: '2000-01-01T00:00:00Z' },
  ],
};

describe('proxy-config', () => {
  let server: http.Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('renders each section of an agent config_dump', () => {
    const w = sectionData(DUMP, 'workloads').table;
    expect(w.rows).toEqual([
      ['shop', 'web-0', '10.244.0.2', 'n1', 'spiffe://cluster.local/ns/shop/sa/web', 'HBONE', 'yes'],
      ['legacy', 'db-0', '10.244.0.3', 'n2', 'spiffe://cluster.local/ns/legacy/sa/default', 'TCP', ''],
    ]);
    expect(sectionData(DUMP, 'services').table.rows).toEqual([['shop', 'web', '10.96.0.7', '80→8080/http', '2', '']]);
    const p = sectionData(DUMP, 'policies');
    expect(p.items).toHaveLength(2);
    expect(p.table.rows[0]).toEqual([
      'AuthorizationPolicy',
      'allow-web',
      'shop [app=db]',
      'ALLOW',
      'from(principals=cluster.local/ns/shop/sa/web) to(ports=5432)',
    ]);
    expect(p.table.rows[1]!.slice(0, 4)).toEqual(['PeerAuthentication', 'default', 'shop', 'STRICT']);
    const c = sectionData(DUMP, 'certs').table.rows;
    expect(c[0]![2]).toBe('2h01m');
    expect(c[1]![2]).toBe('EXPIRED');
    const text = renderTable(sectionData(DUMP, 'services').table);
    expect(text.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+VIPS\s+PORTS\s+ENDPOINTS\s+WAYPOINT$/);
  });

  it("renders a waypoint's routes with weights and subsets", () => {
    const dump = {
      routes: [
        {
          name: 'reviews.shop.svc.cluster.local:80',
          routes: [
            {
              source: 'shop/reviews',
              matches: [],
              destinations: [
                { host: 'reviews.shop.svc.cluster.local', subset: 'v1', port: 80, weight: 70 },
                { host: 'reviews.shop.svc.cluster.local', subset: 'v2', port: 80, weight: 30 },
              ],
            },
          ],
        },
      ],
    };
    expect(sectionData(dump, 'routes').table.rows).toEqual([
      [
        'reviews.shop.svc.cluster.local:80',
        'shop/reviews',
        '/*',
        'reviews.shop.svc.cluster.local/v1:80 70%, reviews.shop.svc.cluster.local/v2:80 30%',
      ],
    ]);
  });

  it("renders a waypoint's tls and tcp routes: SNI patterns, ports, weights", () => {
    const dump = {
      routes: [
        {
          name: 'db.shop.svc.cluster.local:5432',
          tlsRoutes: [
            {
              source: 'shop/db',
              matches: [{ sniHosts: ['a.example', '*.b.example'] }],
              destinations: [{ host: 'db.shop.svc.cluster.local', subset: 'v1', port: 5432, weight: 100 }],
            },
          ],
          tcpRoutes: [
            {
              source: 'shop/db',
              matches: [],
              destinations: [
                { host: 'db.shop.svc.cluster.local', subset: 'v1', port: 5432, weight: 80 },
                { host: 'db.shop.svc.cluster.local', subset: 'v2', port: 5432, weight: 20 },
              ],
            },
          ],
          routes: [],
        },
      ],
    };
    expect(sectionData(dump, 'routes').table.rows).toEqual([
      [
        'db.shop.svc.cluster.local:5432',
        'shop/db',
        'tls sni=a.example,*.b.example',
        'db.shop.svc.cluster.local/v1:5432 100%',
      ],
      [
        'db.shop.svc.cluster.local:5432',
        'shop/db',
        'tcp *',
        'db.shop.svc.cluster.local/v1:5432 80%, db.shop.svc.cluster.local/v2:5432 20%',
      ],
    ]);
  });

  it('reads /config_dump over HTTP and explains an unreachable endpoint', async () => {
    server = http.createServer((req, res) => {
      res.writeHead(req.url === '/config_dump' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(DUMP));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    expect(await fetchDump(`127.0.0.1:${port}`)).toEqual(DUMP);
    await expect(fetchDump('127.0.0.1:1')).rejects.toThrow(/cannot reach the admin endpoint 127.0.0.1:1/);
  });
});
