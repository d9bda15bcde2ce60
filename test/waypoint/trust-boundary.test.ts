// The waypoint as a trust boundary, attacked by a caller holding a valid mesh certificate
// (web-frontend): one normalised path for authorization, routing and the app; the tunnel's
// service cannot be swapped by Host; identity only from the certificate; JWT output headers
// cannot be supplied by the client; subset policies and TCP are enforced; bounded heads.
import http2 from 'node:http2';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterName,
  type Cluster,
  type HttpRoute,
  type VirtualHost,
  type WaypointConfig,
} from '../../core/model/l7.js';
import type { AuthorizationPolicy } from '../../core/model/types.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import { testCa, testCredentials } from '../support/pki.js';
import {
  APP_PORT,
  clientWorkload,
  to,
  VIP,
  vhost,
  waypointConfig,
  WaypointHarness,
  type Pod,
} from '../support/waypoint-harness.js';

const ADMIN = 'cluster.local/ns/coffee-shop/sa/admin-service';
const B_HOST = 'b.coffee-shop.svc.cluster.local';
const B_PORT = 9090;
const ISSUER = 'https://issuer.example';

function policy(
  name: string,
  action: AuthorizationPolicy['action'],
  rules: AuthorizationPolicy['rules'],
  selector?: Record<string, string>,
): AuthorizationPolicy {
  return {
    key: `coffee-shop/${name}`,
    name,
    action,
    rules,
    scope: selector
      ? { namespace: 'coffee-shop', level: 'workload', selector }
      : { namespace: 'coffee-shop', level: 'namespace' },
  };
}

const served = (p: Pod, prefix: string): number => p.seen.filter((s) => s.url.startsWith(prefix)).length;

describe('waypoint trust boundary (HTTP)', () => {
  let w: WaypointHarness;
  let v1: Pod;
  let v2: Pod;
  let b: Pod;
  let config: WaypointConfig;
  let token: (sub: string) => Promise<string>;
  let ca: CertificateAuthority;

  beforeAll(async () => {
    const keys = await generateKeyPair('RS256');
    const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    token = (sub) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(keys.privateKey);

    ca = await testCa();
    w = new WaypointHarness(ca);
    await w.startPods(
      [
        { name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' }, sa: 'customer' },
        { name: 'customer-v2', labels: { app: 'customer-service', version: 'v2' }, sa: 'customer' },
        { name: 'b', labels: { app: 'b' } },
      ],
      100,
    );
    [v1, v2, b] = w.pods as [Pod, Pod, Pod];
    const bCluster: Cluster = {
      name: clusterName(B_HOST, B_PORT),
      host: B_HOST,
      port: B_PORT,
      protocol: 'http',
      serviceKey: `coffee-shop/${B_HOST}`,
      trafficPolicy: {},
      endpoints: [{ address: b.ip, port: APP_PORT, identity: b.identity, labels: b.labels, hbone: true }],
    };
    const bVhost: VirtualHost = {
      name: `${B_HOST}:${B_PORT}`,
      host: B_HOST,
      port: B_PORT,
      protocol: 'http',
      serviceKey: `coffee-shop/${B_HOST}`,
      domains: [`${B_HOST}:${B_PORT}`, `b:${B_PORT}`, `10.96.0.8:${B_PORT}`],
      vips: ['10.96.0.8'],
      routes: [
        {
          source: 'default',
          matches: [],
          destinations: [{ host: B_HOST, port: B_PORT, weight: 100, cluster: bCluster.name }],
        },
      ],
    };
    const rr = { loadBalancer: { simple: 'ROUND_ROBIN' as const } };
    const routes: HttpRoute[] = [
      {
        source: 'coffee-shop/vs',
        name: 'routed-admin',
        matches: [{ uri: { type: 'prefix', value: '/routed-admin' } }],
        destinations: [to('v2')],
      },
      {
        source: 'coffee-shop/vs',
        name: 'v1',
        matches: [{ uri: { type: 'prefix', value: '/v1/' } }],
        destinations: [to('v1')],
      },
      {
        source: 'coffee-shop/vs',
        name: 'v2',
        matches: [{ uri: { type: 'prefix', value: '/v2/' } }],
        destinations: [to('v2')],
      },
      { source: 'coffee-shop/vs', name: 'all', matches: [], destinations: [to(undefined)] },
    ];
    config = waypointConfig(
      routes,
      [
        w.cluster(undefined, (p) => p !== b, rr),
        w.cluster('v1', (p) => p === v1),
        w.cluster('v2', (p) => p === v2),
        bCluster,
      ],
      {
        virtualHosts: [vhost(routes), bVhost],
        requestAuthentications: [
          {
            key: 'coffee-shop/jwt',
            name: 'jwt',
            scope: { namespace: 'coffee-shop', level: 'namespace' },
            jwtRules: [
              {
                issuer: ISSUER,
                jwks: JSON.stringify({ keys: [jwk] }),
                outputClaimToHeaders: [{ header: 'X-Verified-Sub', claim: 'sub' }],
              },
            ],
          },
        ],
        authorizationPolicies: [
          policy('allow-most', 'ALLOW', [
            { to: [{ notPaths: ['/payments-only*', '/ip-only*', '/mine-ip*', '/vip*'] }] },
            { from: [{ namespaces: ['payments'] }], to: [{ paths: ['/payments-only*'] }] },
            { from: [{ ipBlocks: ['10.244.5.5/32'] }], to: [{ paths: ['/ip-only*'] }] },
            { from: [{ ipBlocks: ['10.244.0.9/32'] }], to: [{ paths: ['/mine-ip*'] }] },
            { to: [{ paths: ['/vip*'] }], when: [{ key: 'request.headers[x-verified-sub]', values: ['root'] }] },
          ]),
          policy('deny-admin', 'DENY', [{ to: [{ paths: ['/admin*'] }] }]),
          // Selects only the v2 pods of the service: only admin-service may reach them.
          policy('v2-admin-only', 'DENY', [{ from: [{ notPrincipals: [ADMIN] }] }], { version: 'v2' }),
        ],
      },
    );
    await w.startWaypoint(config, {
      workloads: [
        clientWorkload('web-frontend', '10.244.0.9'),
        {
          ...clientWorkload('payments', '10.244.5.5', 'payments-sa'),
          namespace: 'payments',
          identity: 'spiffe://cluster.local/ns/payments/sa/payments-sa',
        },
      ],
    });
  });
  afterAll(async () => {
    await w?.close();
  });

  /** After every attack, someone legitimate still gets through. */
  const legitStillServed = async (): Promise<void> => {
    expect((await w.request({ path: '/v1/health' })).status).toBe(200);
  };

  describe('one normalised path', () => {
    it('refuses dot-segment, %2e, %61 and backslash variants of a denied path', async () => {
      for (const path of [
        '/admin',
        '/public/../admin',
        '/public/%2e%2e/admin',
        '/public/.%2E/admin',
        '/%61dmin',
        '/public\\..\\admin',
        '/./admin/x',
      ]) {
        expect((await w.request({ sa: 'admin-service', path })).status, path).toBe(403);
      }
      expect(v1.seen.concat(v2.seen).some((s) => s.url.includes('admin') && !s.url.startsWith('/routed'))).toBe(false);
      await legitStillServed();
    });

    it('routes by the normalised path and sends the app that same path', async () => {
      const before = served(v2, '/routed-admin');
      const r = await w.request({ sa: 'admin-service', path: '/x/../routed-admin/%61?q=/../y' });
      expect(r.status).toBe(200);
      expect(served(v2, '/routed-admin')).toBe(before + 1);
      expect(v2.seen.at(-1)?.url).toBe('/routed-admin/a?q=/../y');
      expect(v1.seen.some((s) => s.url.includes('routed-admin'))).toBe(false);
    });

    it('answers 400 to a path that cannot be normalised', async () => {
      for (const path of ['/a%zz', '/%00x', '/bad%']) expect((await w.request({ path })).status, path).toBe(400);
      await legitStillServed();
    });

    it('follows meshConfig.pathNormalization: MERGE_SLASHES and DECODE_AND_MERGE_SLASHES', async () => {
      try {
        expect((await w.request({ sa: 'admin-service', path: '//admin' })).status).toBe(200); // BASE keeps //admin
        expect(
          w.runtime.apply({
            ...config,
            version: 'merge',
            mesh: { ...DEFAULT_MESH_CONFIG, pathNormalization: 'MERGE_SLASHES' },
          }),
        ).toEqual([]);
        expect((await w.request({ sa: 'admin-service', path: '//admin' })).status).toBe(403);
        expect((await w.request({ sa: 'admin-service', path: '/%2fadmin' })).status).toBe(200);
        expect(
          w.runtime.apply({
            ...config,
            version: 'decode',
            mesh: { ...DEFAULT_MESH_CONFIG, pathNormalization: 'DECODE_AND_MERGE_SLASHES' },
          }),
        ).toEqual([]);
        expect((await w.request({ sa: 'admin-service', path: '/%2fadmin' })).status).toBe(403);
        expect((await w.request({ sa: 'admin-service', path: '/x%2F..%2Fadmin' })).status).toBe(403);
      } finally {
        w.runtime.apply({ ...config, version: 'base-again' });
      }
    });
  });

  describe('the service is the tunnel target', () => {
    it('a Host naming another service:port is answered 404 and never reaches it', async () => {
      for (const authority of [
        `${B_HOST}:${B_PORT}`,
        `b:${B_PORT}`,
        `10.96.0.8:${B_PORT}`,
        'customer-service:9090',
        'elsewhere.example',
      ]) {
        expect((await w.request({ path: '/v1/x', authority })).status, authority).toBe(404);
      }
      expect(b.seen).toHaveLength(0);
      const requests = await w.metrics.registry.getSingleMetric('istio_requests_total')?.get();
      const notRouted = (requests?.values ?? []).filter(
        (v) => v.labels.response_code === 404 || v.labels.response_code === '404',
      );
      expect(notRouted.reduce((n, v) => n + v.value, 0)).toBeGreaterThanOrEqual(5);
      expect(notRouted.every((v) => v.labels.response_flags === 'NR')).toBe(true);
      expect(
        (await w.request({ path: '/v1/x', authority: 'customer-service.coffee-shop.svc.cluster.local' })).status,
      ).toBe(200);
    });
  });

  describe('identity only from the certificate', () => {
    it('ignores a forwarded address the peer does not own (namespace, ipBlocks) and counts it', async () => {
      expect((await w.request({ path: '/payments-only/x', forwardedFor: '10.244.5.5:1234' })).status).toBe(403);
      expect((await w.request({ path: '/ip-only/x', forwardedFor: '10.244.5.5:1234' })).status).toBe(403);
      expect((await w.request({ path: '/ip-only/x', forwardedFor: '10.9.9.9:1234' })).status).toBe(403);
      const counter = await w.metrics.registry.getSingleMetric('ambit_waypoint_forwarded_ignored_total')?.get();
      const byReason = Object.fromEntries((counter?.values ?? []).map((v) => [String(v.labels.reason), v.value]));
      expect(byReason.identity_mismatch).toBeGreaterThanOrEqual(1);
      expect(byReason.unknown_address).toBeGreaterThanOrEqual(1);
      // The caller's own address is believed.
      expect((await w.request({ path: '/mine-ip/x', forwardedFor: '10.244.0.9:40000' })).status).toBe(200);
    });
  });

  describe('trusted headers', () => {
    it('removes client-supplied JWT output headers before authorization and the app see them', async () => {
      const before = v1.seen.length + v2.seen.length;
      const spoof = await w.request({
        sa: 'admin-service',
        path: '/vip/x',
        headers: {
          'x-verified-sub': 'root',
          'x-forwarded-client-cert': 'By=x;URI=spiffe://cluster.local/ns/kube-system/sa/root',
        },
      });
      expect(spoof.status).toBe(403);
      expect(v1.seen.length + v2.seen.length).toBe(before);
      await w.request({ path: '/v1/echo', headers: { 'x-verified-sub': 'root' } });
      expect(v1.seen.at(-1)?.headers['x-verified-sub']).toBeUndefined();
      expect(String(v1.seen.at(-1)?.headers['x-forwarded-client-cert'])).toContain(
        'URI=spiffe://cluster.local/ns/coffee-shop/sa/web-frontend',
      );
      // A verified token does set it.
      expect(
        (
          await w.request({
            sa: 'admin-service',
            path: '/vip/x',
            headers: { authorization: `Bearer ${await token('root')}` },
          })
        ).status,
      ).toBe(200);
      await w.request({
        path: '/v1/echo',
        headers: { authorization: `Bearer ${await token('alice')}`, 'x-verified-sub': 'root' },
      });
      expect(v1.seen.at(-1)?.headers['x-verified-sub']).toBe('alice');
    });
  });

  describe('a policy selecting some endpoints', () => {
    it('is enforced on the endpoint the waypoint picks', async () => {
      const v2Before = v2.seen.length;
      expect((await w.request({ path: '/v2/x' })).status).toBe(403);
      expect((await w.request({ path: '/v1/x' })).status).toBe(200);
      expect(v2.seen.length).toBe(v2Before);
      expect((await w.request({ sa: 'admin-service', path: '/v2/x' })).status).toBe(200);
      // Over both versions: web-frontend is served by v1 and refused at v2, never reaching it.
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await w.request({ path: `/mixed/${i}` })).status);
      expect(statuses.filter((s) => s === 200).length).toBe(3);
      expect(statuses.filter((s) => s === 403).length).toBe(3);
      expect(served(v2, '/mixed/')).toBe(0);
      expect(served(v1, '/mixed/')).toBe(3);
    });
  });

  describe('a caller that tears its tunnels down', () => {
    it('is harmless while the tunnels wait for their first bytes (no unhandled stream error)', async () => {
      // Streams past the server's limit are protocol errors: enough of them and the server
      // ends the whole session with an error, while 100 accepted tunnels wait for bytes.
      const creds = await testCredentials(ca, 'coffee-shop', 'intruder');
      const session = http2.connect(`https://127.0.0.1:${w.waypointPort}`, {
        key: creds.keyPem,
        cert: creds.certChainPem,
        ca: creds.rootsPem,
        checkServerIdentity: () => undefined,
        peerMaxConcurrentStreams: 5000,
      });
      session.on('error', () => undefined);
      await new Promise((resolve) => session.once('connect', resolve));
      let accepted = 0;
      await Promise.race([
        Promise.all(
          Array.from(
            { length: 3000 },
            () =>
              new Promise<void>((resolve) => {
                const s = session.request(
                  { ':method': 'CONNECT', ':authority': `${VIP}:${APP_PORT}` },
                  { endStream: false },
                );
                s.on('response', (h) => {
                  if (h[':status'] === 200) accepted++;
                  resolve();
                });
                s.on('error', () => resolve());
                s.on('close', () => resolve());
              }),
          ),
        ),
        new Promise((r) => setTimeout(r, 5_000)),
      ]);
      expect(accepted).toBeLessThanOrEqual(100);
      session.destroy();
      await new Promise((r) => setTimeout(r, 200));
      await legitStillServed();
    });
  });

  describe('bounds', () => {
    it('answers 431 to a 200 KB header (HTTP/1.1 and HTTP/2) and keeps serving', async () => {
      const big = 'a'.repeat(200 * 1024);
      const r1 = await w
        .request({ path: '/v1/big', headers: { 'x-big': big } })
        .catch((err: Error) => ({ status: -1, err }));
      expect(r1.status).toBe(431);
      // HTTP/2: nghttp2 refuses any single field over 64 KB outright (a session error); a head
      // of many fields over the 64 KiB list limit is answered 431 like HTTP/1.1.
      // (Node's client sends at most 64 KB of headers by default: this one is told it may send more.)
      const tunnel = await w.rawTunnel();
      const session = http2.connect('http://waypoint', {
        createConnection: () => tunnel,
        maxSendHeaderBlockLength: 1024 * 1024,
      });
      const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-big-${i}`, 'b'.repeat(3000)]));
      const stream = session.request({ ':path': '/v1/big', ':authority': 'customer-service:18080', ...many });
      const status = await new Promise<number>((resolve, reject) => {
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
      });
      session.destroy();
      expect(status).toBe(431);
      expect(served(v1, '/v1/big')).toBe(0);
      await legitStillServed();
      expect((await w.request({ path: '/v1/after', h2: true })).status).toBe(200);
    });
  });
});

describe('waypoint trust boundary (TCP)', () => {
  let w: WaypointHarness;
  let pod: Pod;

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'db', labels: { app: 'db' } }], 110);
    pod = w.pods[0]!;
    await w.startWaypoint({
      ...waypointConfig([], [{ ...w.cluster(undefined, () => true), protocol: 'tcp' }]),
      virtualHosts: [vhost([{ source: 'default', matches: [], destinations: [to(undefined)] }], 'tcp')],
      authorizationPolicies: [policy('db-admin-only', 'ALLOW', [{ from: [{ principals: [ADMIN] }] }])],
    });
  });
  afterAll(async () => {
    await w?.close();
  });

  const exchange = async (sa: string): Promise<string> => {
    const tunnel = await w.rawTunnel(sa);
    tunnel.end('GET /tcp HTTP/1.1\r\nHost: db\r\nConnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    for await (const c of tunnel) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };

  it('authorises TCP on L4 attributes: an excluded caller gets no bytes through', async () => {
    await expect(exchange('web-frontend')).rejects.toThrow(/403/);
    expect(pod.seen).toHaveLength(0);
    expect(await exchange('admin-service')).toMatch(/^HTTP\/1.1 200/);
    expect(pod.seen).toHaveLength(1);
  });
});
