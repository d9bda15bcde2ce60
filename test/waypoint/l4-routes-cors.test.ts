// VirtualService tcp routes, tls routes and corsPolicy through a real waypoint (HBONE in and
// out, loopback pods): a tcp route splits whole connections by weight; a tls route picks the
// backend by the ClientHello's SNI while the TLS session stays end to end (the client
// completes its handshake with the backend's own certificate); CORS preflights are answered
// at the waypoint and actual responses carry the headers.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterName, type Cluster, type L4Route, type VirtualHost } from '../../core/model/l7.js';
import { helloBytes } from '../../core/tls/test-fixtures.js';
import { testCa, testCredentials } from '../support/pki.js';
import {
  APP_PORT,
  clientWorkload,
  HOST,
  to,
  vhost,
  waypointConfig,
  WaypointHarness,
} from '../support/waypoint-harness.js';

const TLS_PORT = APP_PORT + 363;

async function readAll(stream: Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** One TCP connection through the waypoint carrying an HTTP/1.1 request; the pod IP that answered. */
async function tcpExchange(w: WaypointHarness, sa = 'web-frontend'): Promise<string> {
  const tunnel = await w.rawTunnel(sa);
  tunnel.end('GET / HTTP/1.1\r\nHost: db\r\nConnection: close\r\n\r\n');
  const answer = await readAll(tunnel);
  const ip = /hello from (127\.0\.0\.\d+)/.exec(answer)?.[1];
  if (!ip) throw new Error(`unexpected answer: ${answer.slice(0, 200)}`);
  return ip;
}

function l4Cluster(w: WaypointHarness, subset: string, podIndex: number, port: number): Cluster {
  const p = w.pods[podIndex]!;
  return {
    name: clusterName(HOST, APP_PORT, subset),
    host: HOST,
    port: APP_PORT,
    subset,
    protocol: 'tcp',
    serviceKey: `coffee-shop/${HOST}`,
    trafficPolicy: {},
    endpoints: [{ address: p.ip, port, identity: p.identity, labels: p.labels, hbone: true }],
  };
}

function l4Vhost(extra: Pick<VirtualHost, 'tcpRoutes' | 'tlsRoutes'>, protocol: VirtualHost['protocol']): VirtualHost {
  return { ...vhost([{ source: 'default', matches: [], destinations: [to(undefined)] }], protocol), ...extra };
}

const route = (name: string, matches: L4Route['matches'], destinations: L4Route['destinations']): L4Route => ({
  source: 'coffee-shop/db',
  name,
  matches,
  destinations,
});

describe('waypoint: VirtualService tcp routes', () => {
  let w: WaypointHarness;

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods(
      [
        { name: 'db-v1', labels: { app: 'db', version: 'v1' } },
        { name: 'db-v2', labels: { app: 'db', version: 'v2' } },
      ],
      174,
    );
    const tcpRoutes = [
      route('admin', [{ sourceLabels: { app: 'admin-service' } }], [to('v2')]),
      route('split', [], [to('v1', 80), to('v2', 20)]),
    ];
    await w.startWaypoint(
      {
        ...waypointConfig(
          [],
          [
            { ...w.cluster(undefined, () => true), protocol: 'tcp' },
            l4Cluster(w, 'v1', 0, APP_PORT),
            l4Cluster(w, 'v2', 1, APP_PORT),
          ],
        ),
        virtualHosts: [l4Vhost({ tcpRoutes }, 'tcp')],
      },
      { workloads: [clientWorkload('admin', '10.244.0.9', 'admin-service')] },
    );
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('splits 200 connections 80/20, each connection whole to one destination', async () => {
    const [v1, v2] = [w.pods[0]!.ip, w.pods[1]!.ip];
    const counts = new Map<string, number>();
    const total = 200;
    for (let i = 0; i < total; i += 20) {
      const ips = await Promise.all(Array.from({ length: Math.min(20, total - i) }, () => tcpExchange(w)));
      for (const ip of ips) counts.set(ip, (counts.get(ip) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([v1, v2].sort());
    expect((counts.get(v1) ?? 0) + (counts.get(v2) ?? 0)).toBe(total);
    // Binomial(200, 0.8): mean 160, sd 5.7; ±34 is six standard deviations (a false alarm
    // about once in 10^9 runs), while a 50/50 or unweighted split lands far outside.
    expect(Math.abs((counts.get(v1) ?? 0) - 160)).toBeLessThanOrEqual(34);
    // Each connection reached exactly one pod with one whole request.
    expect(w.pods[0]!.seen.length + w.pods[1]!.seen.length).toBe(total);
  }, 120_000);

  it('matches on the source workload: the admin service always goes to v2', async () => {
    const ips = await Promise.all(Array.from({ length: 10 }, () => tcpExchange(w, 'admin-service')));
    expect(new Set(ips)).toEqual(new Set([w.pods[1]!.ip]));
  }, 60_000);
});

describe('waypoint: VirtualService tls routes (SNI, not terminated)', () => {
  let w: WaypointHarness;
  const backends: tls.Server[] = [];

  beforeAll(async () => {
    const ca = await testCa();
    w = new WaypointHarness(ca);
    await w.startPods(
      [
        { name: 'tls-a', labels: { app: 'tls-a' } },
        { name: 'tls-b', labels: { app: 'tls-b' } },
        { name: 'tls-default', labels: { app: 'tls-default' } },
      ],
      177,
    );
    // Each pod also serves TLS with its own certificate and names itself and the SNI it saw.
    for (const pod of w.pods) {
      const creds = await testCredentials(ca, 'coffee-shop', pod.name);
      const server = tls.createServer({ key: creds.keyPem, cert: creds.certChainPem }, (s) => {
        s.end(`pod=${pod.name} sni=${(s as tls.TLSSocket & { servername?: string }).servername ?? '-'}`);
      });
      await new Promise<void>((resolve) => server.listen(TLS_PORT, pod.ip, resolve));
      backends.push(server);
    }
    const tlsRoutes = [
      route('a', [{ sniHosts: ['a.example'] }], [to('a')]),
      route('b', [{ sniHosts: ['*.b.example'] }], [to('b')]),
    ];
    await w.startWaypoint({
      ...waypointConfig(
        [],
        [l4Cluster(w, 'a', 0, TLS_PORT), l4Cluster(w, 'b', 1, TLS_PORT), l4Cluster(w, 'default', 2, TLS_PORT)],
      ),
      virtualHosts: [
        {
          ...l4Vhost({ tlsRoutes }, 'tls'),
          routes: [{ source: 'default', matches: [], destinations: [to('default')] }],
        },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    for (const s of backends) s.close();
  });

  async function tlsExchange(servername: string): Promise<{ greeting: string; peer: string }> {
    const tunnel = await w.rawTunnel();
    const client = tls.connect({ socket: tunnel as net.Socket, servername, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      client.once('secureConnect', resolve);
      client.once('error', reject);
    });
    const peer = client.getPeerCertificate().subjectaltname ?? '';
    return { greeting: await readAll(client), peer };
  }

  it('routes by SNI, exact and wildcard, to the backend that then completes TLS itself', async () => {
    const a = await tlsExchange('a.example');
    expect(a.greeting).toBe('pod=tls-a sni=a.example');
    expect(a.peer).toContain('sa/tls-a');
    const b = await tlsExchange('deep.x.b.example');
    expect(b.greeting).toBe('pod=tls-b sni=deep.x.b.example');
    expect(b.peer).toContain('sa/tls-b');
  }, 60_000);

  it('survives what is not a good hello: plaintext, a cut hello, garbage, an oversized hello', async () => {
    const send = async (bytes: Buffer): Promise<string> => {
      const tunnel = await w.rawTunnel();
      tunnel.on('error', () => undefined);
      tunnel.end(bytes);
      return readAll(tunnel).catch(() => 'reset');
    };
    const hello = helloBytes({ serverName: 'a.example' });
    // Not TLS: no SNI, so the service default takes it (its TLS server then rejects the bytes).
    expect(await send(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).not.toContain('pod=tls-a');
    // Cut short, then closed: nothing to route.
    expect(await send(hello.subarray(0, hello.length - 3))).not.toContain('pod=');
    expect(await send(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]))).not.toContain('pod=');
    expect(await send(helloBytes({ serverName: 'a.example', padding: 40_000 }))).not.toContain('pod=tls-a');
    // And the waypoint still routes a good one.
    expect((await tlsExchange('a.example')).greeting).toBe('pod=tls-a sni=a.example');
  }, 60_000);

  it('an SNI no tls route matches goes to the service default', async () => {
    expect((await tlsExchange('c.example')).greeting).toBe('pod=tls-default sni=c.example');
  }, 60_000);
});

describe('waypoint: corsPolicy', () => {
  let w: WaypointHarness;

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'api', labels: { app: 'api' } }], 181);
    await w.startWaypoint(
      waypointConfig(
        [
          {
            source: 'coffee-shop/api',
            name: 'api',
            matches: [],
            destinations: [to(undefined)],
            corsPolicy: {
              allowOrigins: [{ type: 'exact', value: 'https://shop.example' }],
              allowMethods: ['GET', 'POST'],
              allowHeaders: ['x-user'],
              exposeHeaders: ['x-pod'],
              maxAgeSeconds: 86400,
              allowCredentials: true,
            },
          },
        ],
        [w.cluster(undefined, () => true)],
      ),
    );
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  it('answers a preflight from an allowed origin at the waypoint; the app never sees it', async () => {
    const res = await w.request({
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(res.headers['access-control-allow-methods']).toBe('GET,POST');
    expect(res.headers['access-control-allow-headers']).toBe('x-user');
    expect(res.headers['access-control-max-age']).toBe('86400');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(w.pods[0]!.seen.filter((s) => s.method === 'OPTIONS')).toHaveLength(0);
  });

  it('forwards a preflight from another origin, without CORS headers', async () => {
    const res = await w.request({
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(w.pods[0]!.seen.filter((s) => s.method === 'OPTIONS')).toHaveLength(1);
  });

  it('adds the CORS response headers to an actual request from an allowed origin', async () => {
    const res = await w.request({ headers: { origin: 'https://shop.example' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^hello from/);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(res.headers['access-control-expose-headers']).toBe('x-pod');
    const plain = await w.request({ headers: { origin: 'https://evil.example' } });
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });
});
