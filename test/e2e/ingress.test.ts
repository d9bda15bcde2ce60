// The ingress gateway under `ambitctl local up` (the built CLI): local up runs
// istio-ingressgateway for the Gateway that selects it and exposes its HTTP and HTTPS server
// ports on the host's 127.0.0.1:8080/8443 (+ the suite's port offset). From the host: HTTP and
// HTTPS with host and path routing, the hop into the mesh over HBONE with the gateway's
// identity (the namespace is STRICT; the destination agent counts the connection as mutual
// TLS from that identity), a policy at the gateway denying a path, and TLS PASSTHROUGH by
// SNI to an app that terminates TLS itself. The gateway's request metrics carry Istio's
// gateway labels (reporter source, the routed-to service), so the live view's GATEWAY block
// names the service. Own bridge, pod CIDR, netns prefix and ports.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { pollUntil } from '../support/wait.js';
import { makePki, type TestPki } from './ingress-pki.js';
import { LocalMesh, REPO } from '../support/local-mesh.js';
import { parseMetrics, renderView } from '../../ctl/local/live.js';
import { readRecord } from '../../ctl/local/state.js';

const BRIDGE = 'ambt-g1-br0';
const CIDR = '10.239.71.0/24';
const PREFIX = 'ambt-g1-';
const PORT_OFFSET = 5150;
const HTTP_PORT = 8080 + PORT_OFFSET;
const HTTPS_PORT = 8443 + PORT_OFFSET;
const AGENT_METRICS = 15020 + PORT_OFFSET;
const GATEWAY_IDENTITY = 'spiffe://cluster.local/ns/shop/sa/istio-ingressgateway';

// Fixture YAML: its Service/Pod entries share their shape with other local suites' manifests on purpose.
const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: strict, namespace: shop }
spec: { mtls: { mode: STRICT } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 8080, targetPort: 8080, appProtocol: http }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec:
  selector: { app: db }
  ports: [{ name: tls, port: 9443, targetPort: 9443 }]
---
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, labels: { app: web } }
spec:
  serviceAccountName: web
  containers:
    - name: app
      command: ["node", "service.mjs"]
      env: [{ name: SERVICE_NAME, value: web }]
---
apiVersion: v1
kind: Pod
metadata: { name: db, namespace: shop, labels: { app: db } }
spec:
  serviceAccountName: db
  containers:
    - name: app
      command: ["node", "tls-app.mjs"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: [shop.example.com, api.example.com]
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: [shop.example.com]
      tls: { mode: SIMPLE, credentialName: shop-cert }
    - port: { number: 443, name: tls, protocol: TLS }
      hosts: [db.example.com]
      tls: { mode: PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http: [{ route: [{ destination: { host: web, port: { number: 8080 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: shop }
spec:
  hosts: [api.example.com]
  gateways: [edge]
  http:
    - match: [{ uri: { prefix: /v1/ } }]
      rewrite: { uri: /api/ }
      route: [{ destination: { host: web, port: { number: 8080 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: shop }
spec:
  hosts: [db.example.com]
  gateways: [edge]
  tls:
    - match: [{ port: 443, sniHosts: [db.example.com] }]
      route: [{ destination: { host: db, port: { number: 9443 } } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin-from-outside, namespace: shop }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin*"], ports: ["80"] } }] }]
`;

// The PASSTHROUGH backend: terminates TLS itself (its certificate names db.example.com) and
// answers with the SNI it saw, so the test knows the ClientHello reached it untouched.
const TLS_APP = `
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
tls.createServer({ cert: readFileSync('db-cert/tls.crt'), key: readFileSync('db-cert/tls.key') }, (s) => {
  s.end('db over passthrough, sni=' + s.servername);
  s.on('error', () => {});
}).listen(9443);
`;

function get(host: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: HTTP_PORT, path: urlPath, headers: { host }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

describeNetns('ambitctl local up: the ingress gateway', () => {
  let work: string;
  let pki: TestPki;
  let localMesh: LocalMesh;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), PREFIX));
    const dir = path.join(work, 'shop');
    await mkdir(dir);
    // Server certificates: the gateway's `credentialName: shop-cert` (a credentials/ folder next
    // to the manifests) and the db app's own.
    pki = makePki(path.join(work, 'pki'));
    const shop = pki.credential('shop-cert', ['shop.example.com']);
    const db = pki.credential('db-cert', ['db.example.com']);
    for (const [name, c] of [
      ['credentials/shop-cert', shop],
      ['db-cert', db],
    ] as const) {
      await mkdir(path.join(dir, name), { recursive: true });
      await writeFile(path.join(dir, name, 'tls.crt'), c.cert);
      await writeFile(path.join(dir, name, 'tls.key'), c.key);
    }
    await writeFile(path.join(dir, 'shop.yaml'), MANIFESTS);
    await writeFile(path.join(dir, 'tls-app.mjs'), TLS_APP);
    await copyFile(path.join(REPO, 'examples', 'coffee-shop', 'service.mjs'), path.join(dir, 'service.mjs'));
    localMesh = new LocalMesh({
      dir,
      stateDir: path.join(work, 'state'),
      bridge: BRIDGE,
      cidr: CIDR,
      prefix: PREFIX,
      portOffset: PORT_OFFSET,
    });
    await localMesh.start();
    // `ready` means enrolled with certificates; the gateway's config and the apps may still be on their way.
    await pollUntil(async () => (await get('shop.example.com', '/').catch(() => ({ status: 0 }))).status === 200, {
      what: 'the web app answering through the ingress gateway',
      timeoutMs: 90_000,
      intervalMs: 500,
    });
  }, 240_000);

  afterAll(async () => {
    await localMesh?.stop();
    await localMesh?.down();
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('HTTP: routes by host and path into the mesh, with the gateway identity on an mTLS hop', async () => {
    const shop = await get('shop.example.com', '/menu');
    expect(shop.status).toBe(200);
    const reply = JSON.parse(shop.body) as { service: string; path: string; headers: Record<string, string> };
    expect(reply.service).toBe('web');
    expect(reply.path).toBe('/menu');
    expect(reply.headers['x-forwarded-client-cert']).toContain(`By=${GATEWAY_IDENTITY}`);
    const api = await get('api.example.com', '/v1/orders');
    expect(api.status).toBe(200);
    expect((JSON.parse(api.body) as { path: string }).path).toBe('/api/orders');
    expect((await get('api.example.com', '/other')).status).toBe(404);
    expect((await get('nobody.example.com', '/')).status).toBe(404);
    // The namespace is STRICT, so the hop is HBONE; the destination agent saw it as mutual TLS from the gateway.
    const metrics = await fetch(`http://127.0.0.1:${AGENT_METRICS}/metrics`).then((r) => r.text());
    const opened = metrics
      .split('\n')
      .filter((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('reporter="destination"'))
      .filter((l) => l.includes(`source_principal="${GATEWAY_IDENTITY}"`));
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.every((l) => l.includes('connection_security_policy="mutual_tls"'))).toBe(true);
  }, 60_000);

  it('a policy selecting the gateway denies a path there', async () => {
    const denied = await get('shop.example.com', '/admin/users');
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('RBAC: access denied');
    expect((await get('shop.example.com', '/adminless')).status).toBe(403);
    expect((await get('shop.example.com', '/menu')).status).toBe(200);
  }, 60_000);

  it('HTTPS: terminates with the credential of the server the SNI names, then routes into the mesh', async () => {
    const res = await new Promise<{ status: number; body: string; cn: string }>((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port: HTTPS_PORT,
          servername: 'shop.example.com',
          path: '/secure',
          headers: { host: 'shop.example.com' },
          ca: pki.caCert,
          agent: false,
          checkServerIdentity: (_n, cert) => tls.checkServerIdentity('shop.example.com', cert),
        },
        (r) => {
          let body = '';
          const cn = String((r.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '');
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body, cn }));
        },
      );
      req.on('error', reject);
    });
    expect(res.status).toBe(200);
    expect(res.cn).toBe('shop.example.com');
    const reply = JSON.parse(res.body) as { path: string; headers: Record<string, string> };
    expect(reply.path).toBe('/secure');
    expect(reply.headers['x-forwarded-proto']).toBe('https');
  }, 60_000);

  it('PASSTHROUGH: a ClientHello for db.example.com reaches the db app untouched', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: HTTPS_PORT, servername: 'db.example.com', ca: pki.caCert });
      let got = '';
      s.on('secureConnect', () => {
        // The certificate is the db app's: the gateway did not terminate this connection.
        if (s.getPeerCertificate().subject?.CN !== 'db.example.com') reject(new Error('not the db certificate'));
      });
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.setTimeout(20_000, () => s.destroy(new Error('timeout')));
    });
    expect(text).toBe('db over passthrough, sni=db.example.com');
  }, 60_000);

  it("the gateway's request metrics name the routed-to service as Istio's gateways do; the live view shows it", async () => {
    expect((await get('shop.example.com', '/menu')).status).toBe(200);
    expect((await get('shop.example.com', '/admin/x')).status).toBe(403);
    const gateway = (await readRecord(path.join(work, 'state')))?.waypoints?.find(
      (w) => w.name === 'istio-ingressgateway',
    );
    expect(gateway).toBeDefined();
    const text = await fetch(`http://127.0.0.1:${gateway!.port}/metrics`).then((r) => r.text());
    const series = (parseMetrics(text).get('istio_requests_total') ?? []).map((s) => s.labels);
    const served = series.find((l) => l.response_code === '200');
    expect(served).toMatchObject({
      reporter: 'source',
      source_workload: 'istio-ingressgateway',
      source_workload_namespace: 'shop',
      source_principal: GATEWAY_IDENTITY,
      destination_service: 'web.shop.svc.cluster.local',
      destination_service_name: 'web',
      destination_service_namespace: 'shop',
      destination_workload: 'web',
      destination_workload_namespace: 'shop',
    });
    expect(series.find((l) => l.response_code === '403')).toMatchObject({ destination_service_name: 'web' });
    // The live view's GATEWAY block, from the same scrape.
    const view = renderView({
      stats: undefined,
      now: new Map(),
      before: undefined,
      pods: 3,
      started: Date.now(),
      admin: 15000 + PORT_OFFSET,
      waypoints: [
        { label: 'shop/istio-ingressgateway', port: gateway!.port, now: parseMetrics(text), before: undefined },
      ],
      // eslint-disable-next-line no-control-regex
    }).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(view).toContain('GATEWAY shop/istio-ingressgateway');
    expect(view).toMatch(/^web\s+\d+\s+\d+\s+200 \d+% 403 \d+%/m);
    // Only requests no route took (404, host or path unknown) stay without a destination service.
    expect(view.split('\n').filter((l) => /^unknown\s/.test(l) && !/\s404 100%$/.test(l))).toEqual([]);
  }, 60_000);
});
