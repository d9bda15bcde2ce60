// The coffee-shop's waypoint under `ambitctl local up` (the built CLI, as a user runs it), on a
// copy of examples/coffee-shop plus test-only L7 manifests (below): requests from pods go
// pod → agent → HBONE → waypoint → HBONE → agent → pod, and each behaviour is checked
// where it would fail without the waypoint: the 70/30 split over 2000 requests, a Firefox
// user-agent pinned to v1, a 301 redirect with its Location, a header set and x-api-key
// removed as the app sees them, a 30 % fault abort, a route timeout → 504, an
// AuthorizationPolicy denial → 403, the waypoint's Istio metrics on its forwarded port, a
// second namespace (bakery) with its own waypoint on the next port, and a teardown that
// leaves nothing behind. Own bridge, pod CIDR, netns prefix and node ports.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeNetns } from '../support/privileges.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';
import type { WaypointConfigDump } from '../../core/admin/dump.js';
const BRIDGE = 'ambt-h15-br0';
const CIDR = '10.239.15.0/24';
const PREFIX = 'ambt-h15-';
const PORT_OFFSET = 1540;
// Waypoints get 127.0.0.1:15100+i (+ the offset) for admin + /metrics, in namespace/name order.
const BAKERY_PORT = 15100 + PORT_OFFSET;
const WAYPOINT_PORT = 15101 + PORT_OFFSET; // coffee-shop's

// A second namespace with its own waypoint (so two waypoints get their own ports).
const BAKERY = `
apiVersion: v1
kind: Namespace
metadata: { name: bakery, labels: { mesh-mode: ambient, mesh-waypoint: bakery-wp } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: bakery-wp, namespace: bakery }
spec:
  gatewayClassName: ambit-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: v1
kind: Service
metadata: { name: bread, namespace: bakery }
spec:
  selector: { app: bread }
  ports: [{ name: http, port: 8080, targetPort: 8080, appProtocol: http }]
---
apiVersion: v1
kind: Pod
metadata: { name: bread, namespace: bakery, labels: { app: bread, version: v1 } }
spec:
  serviceAccountName: bread
  containers:
    - name: app
      command: ["node", "service.mjs"]
      env: [{ name: SERVICE_NAME, value: bread }]
`;

// Test-only L7 config for the copy (the example's own 70/30 VirtualService is replaced by one
// that also pins Firefox to v1). slow-service answers after 3 s; its route times out at 1 s.
const L7 = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: customer-service, namespace: coffee-shop }
spec:
  hosts: [customer-service]
  http:
    - name: firefox-v1
      match: [{ headers: { user-agent: { regex: ".*Firefox.*" } } }]
      route: [{ destination: { host: customer-service, subset: v1 } }]
    - name: canary
      route:
        - { destination: { host: customer-service, subset: v1 }, weight: 70 }
        - { destination: { host: customer-service, subset: v2 }, weight: 30 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: order-service, namespace: coffee-shop }
spec:
  hosts: [order-service]
  http:
    - name: legacy-redirect
      match: [{ uri: { prefix: /legacy/menu } }]
      redirect: { uri: /menu }
    - route: [{ destination: { host: order-service } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: inventory-service, namespace: coffee-shop }
spec:
  hosts: [inventory-service]
  http:
    - name: headers
      headers:
        request: { set: { x-coffee-shop: ambit }, remove: [x-api-key] }
      route: [{ destination: { host: inventory-service } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: payment-service, namespace: coffee-shop }
spec:
  hosts: [payment-service.coffee-shop.svc.cluster.local]
  http:
    - name: abort-30
      match: [{ uri: { prefix: /flaky-abort } }]
      fault: { abort: { httpStatus: 503, percentage: { value: 30 } } }
      route: [{ destination: { host: payment-service } }]
    - route: [{ destination: { host: payment-service } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: slow-service, namespace: coffee-shop }
spec:
  hosts: [slow-service]
  http:
    - name: timeout-1s
      timeout: 1s
      route: [{ destination: { host: slow-service } }]
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: slow-service, namespace: coffee-shop }
---
apiVersion: v1
kind: Service
metadata: { name: slow-service, namespace: coffee-shop }
spec:
  selector: { app: slow-service }
  ports: [{ name: http, port: 8080, targetPort: 8080, appProtocol: http }]
---
apiVersion: v1
kind: Pod
metadata: { name: slow-service, namespace: coffee-shop, labels: { app: slow-service, version: v1 } }
spec:
  serviceAccountName: slow-service
  containers:
    - name: app
      command: ["node", "service.mjs"]
      env:
        - { name: SERVICE_NAME, value: slow-service }
        - { name: DELAY_MS, value: "3000" }
`;

// Many requests from inside a pod: N requests over C keep-alive connections; prints the
// status and version counts (and one body per status) as JSON.
const CLIENT = `
import http from 'node:http';
const [url, total, concurrency, headersJson] = process.argv.slice(2);
const headers = JSON.parse(headersJson || '{}');
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const out = { statuses: {}, versions: {}, samples: {}, errors: {} };
let next = 0;
const one = () => new Promise((resolve) => {
  const req = http.get(url, { agent, headers, timeout: 10000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => {
      out.statuses[res.statusCode] = (out.statuses[res.statusCode] ?? 0) + 1;
      out.samples[res.statusCode] ??= body.slice(0, 300);
      try { const v = JSON.parse(body).version; if (v) out.versions[v] = (out.versions[v] ?? 0) + 1; } catch {}
      resolve();
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { out.errors[e.code ?? e.message] = (out.errors[e.code ?? e.message] ?? 0) + 1; resolve(); });
});
const worker = async () => { while (next++ < Number(total)) await one(); };
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
agent.destroy();
console.log(JSON.stringify(out));
`;

interface ClientResult {
  statuses: Record<string, number>;
  versions: Record<string, number>;
  samples: Record<string, string>;
  errors: Record<string, number>;
}

const ours = (text: string) =>
  text.split('\n').filter((l) => l.includes(PREFIX) || l.includes(BRIDGE) || l.includes(CIDR.replace(/\.0\/24$/, '.')));

describeNetns('ambitctl local up: the coffee-shop through its waypoint (L7)', () => {
  let work: string;
  let stateDir: string;
  let clientFile: string;
  let localMesh: LocalMesh;
  let iptablesBefore: string[] = [];

  const exec = (pod: string, ...argv: string[]) =>
    sh(process.execPath, [CTL, 'local', 'exec', '--state-dir', stateDir, pod, '--', ...argv], 120_000);
  const curl = (pod: string, ...args: string[]) => exec(pod, 'curl', '-sS', '-m', '10', ...args);
  const many = async (
    pod: string,
    url: string,
    total: number,
    headers: Record<string, string> = {},
  ): Promise<ClientResult> => {
    const res = await exec(pod, process.execPath, clientFile, url, String(total), '16', JSON.stringify(headers));
    expect(res.stderr).toBe('');
    return JSON.parse(res.stdout) as ClientResult;
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ambt-h15-'));
    stateDir = path.join(work, 'state');
    const mesh = path.join(work, 'coffee-shop');
    await cp(path.join(REPO, 'examples', 'coffee-shop'), mesh, { recursive: true });
    await writeFile(path.join(mesh, 'virtual-services.yaml'), L7);
    await writeFile(path.join(mesh, 'bakery.yaml'), BAKERY);
    clientFile = path.join(work, 'client.mjs');
    await writeFile(clientFile, CLIENT);
    iptablesBefore = ours((await sh('iptables-save', [])).stdout);
    localMesh = new LocalMesh({
      dir: mesh,
      stateDir,
      bridge: BRIDGE,
      cidr: CIDR,
      prefix: PREFIX,
      portOffset: PORT_OFFSET,
    });
    await localMesh.start();
  }, 180_000);

  afterAll(async () => {
    await localMesh.stop();
    await localMesh.down();
    await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('runs each waypoint in its own netns with its config; `waypoint list --local` shows them', async () => {
    const netns = (await sh('ip', ['netns', 'list'])).stdout;
    expect(netns).toContain(`${PREFIX}coffee-shop-waypoint-waypoint`);
    expect(netns).toContain(`${PREFIX}bakery-bakery-wp-waypoint`);
    const dump = (await (await fetch(`http://127.0.0.1:${WAYPOINT_PORT}/config_dump`)).json()) as WaypointConfigDump;
    expect(dump.identity).toBe('spiffe://cluster.local/ns/coffee-shop/sa/waypoint');
    expect(dump.namespace).toBe('coffee-shop');
    expect(dump.version).toBeTruthy();
    const list = await sh(process.execPath, [
      CTL,
      'waypoint',
      'list',
      '--local',
      '--state-dir',
      stateDir,
      '-o',
      'json',
    ]);
    expect(list.stderr).toBe('');
    const rows = JSON.parse(list.stdout) as Array<{
      namespace: string;
      name: string;
      address: string;
      admin?: string;
      usedBy: string[];
    }>;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      namespace: 'bakery',
      name: 'bakery-wp',
      admin: `127.0.0.1:${BAKERY_PORT}`,
      usedBy: ['bakery'],
    });
    expect(rows[1]).toMatchObject({
      namespace: 'coffee-shop',
      name: 'waypoint',
      admin: `127.0.0.1:${WAYPOINT_PORT}`,
      usedBy: ['coffee-shop'],
    });
    for (const r of rows) expect(r.address).toMatch(/^10\.239\.15\.\d+$/);
    const bakery = (await (await fetch(`http://127.0.0.1:${BAKERY_PORT}/config_dump`)).json()) as WaypointConfigDump;
    expect(bakery.identity).toBe('spiffe://cluster.local/ns/bakery/sa/bakery-wp');
    expect(bakery.version).toBeTruthy();
  });

  it("sends a call into another namespace through that namespace's waypoint", async () => {
    const res = await curl('order-service', 'http://bread.bakery:8080/loaf');
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as { service: string }).service).toBe('bread');
    const bakery = await (await fetch(`http://127.0.0.1:${BAKERY_PORT}/metrics`)).text();
    expect(bakery).toMatch(
      /istio_requests_total\{reporter="waypoint",source_workload="order-service",[^}]*destination_service_name="bread",[^}]*response_code="200"\} 1\b/,
    );
    const coffee = await (await fetch(`http://127.0.0.1:${WAYPOINT_PORT}/metrics`)).text();
    expect(coffee).not.toMatch(/destination_service_name="bread"/);
  }, 60_000);

  it('splits customer-service 70/30 between v1 and v2 over 2000 requests', async () => {
    const r = await many('web-frontend', 'http://customer-service:8080/profile', 2000);
    expect(r.errors).toEqual({});
    expect(r.statuses).toEqual({ 200: 2000 });
    const v1 = (r.versions.v1 ?? 0) / 2000;
    // 2000 draws at p=0.7: one standard deviation is ~1 %; ±4 % fails only a broken split.
    expect(v1).toBeGreaterThan(0.66);
    expect(v1).toBeLessThan(0.74);
    expect((r.versions.v1 ?? 0) + (r.versions.v2 ?? 0)).toBe(2000);
  }, 120_000);

  it('sends a Firefox user-agent to v1 only', async () => {
    const r = await many('web-frontend', 'http://customer-service:8080/profile', 60, {
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    });
    expect(r.statuses).toEqual({ 200: 60 });
    expect(r.versions).toEqual({ v1: 60 }); // at 70/30, 60 requests all on v1 by chance: 0.7^60 ≈ 5e-10
  }, 60_000);

  it('redirects /legacy/menu with 301 and a Location', async () => {
    const res = await curl('web-frontend', '-o', '/dev/null', '-D', '-', 'http://order-service:8080/legacy/menu');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^HTTP\/1\.1 301/);
    const location = /^location: (.*)\r?$/im.exec(res.stdout)?.[1]?.trim();
    expect(location).toMatch(/^(http:\/\/order-service:8080)?\/menu$/);
  }, 60_000);

  it('sets x-coffee-shop and removes x-api-key before inventory-service sees the request', async () => {
    const res = await curl(
      'order-service',
      '-H',
      'x-api-key: secret-123',
      '-H',
      'x-keep: yes',
      'http://inventory-service:8080/stock',
    );
    expect(res.code).toBe(0);
    const body = JSON.parse(res.stdout) as { service: string; headers: Record<string, string> };
    expect(body.service).toBe('inventory-service');
    expect(body.headers['x-coffee-shop']).toBe('ambit');
    expect(body.headers['x-api-key']).toBeUndefined();
    expect(body.headers['x-keep']).toBe('yes');
  }, 60_000);

  it('aborts 30 % of /flaky-abort with 503 (fault injection)', async () => {
    const r = await many('order-service', 'http://payment-service:8080/flaky-abort', 2000);
    expect(r.errors).toEqual({});
    expect((r.statuses[200] ?? 0) + (r.statuses[503] ?? 0)).toBe(2000);
    const aborted = (r.statuses[503] ?? 0) / 2000;
    expect(aborted).toBeGreaterThan(0.26);
    expect(aborted).toBeLessThan(0.34);
    expect(r.samples[503]).toContain('fault filter abort');
  }, 120_000);

  it('answers 504 when the route timeout (1 s) passes before slow-service (3 s) answers', async () => {
    const res = await curl('order-service', '-o', '/dev/null', '-w', '%{http_code}', 'http://slow-service:8080/');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('504');
  }, 60_000);

  it('denies inventory-service → payment-service with 403 RBAC: access denied', async () => {
    const res = await curl('inventory-service', '-w', '\n%{http_code}', 'http://payment-service:8080/pay');
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n')).toEqual(['RBAC: access denied', '403']);
  }, 60_000);

  it("reports Istio request metrics on the waypoint's metrics port", async () => {
    const text = await (await fetch(`http://127.0.0.1:${WAYPOINT_PORT}/metrics`)).text();
    const samples = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    const count = (re: RegExp) => samples.filter((l) => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    expect(
      count(
        /reporter="waypoint".*destination_service="customer-service\.coffee-shop\.svc\.cluster\.local".*response_code="200"/,
      ),
    ).toBeGreaterThanOrEqual(2060);
    expect(
      count(
        /reporter="waypoint".*destination_service="payment-service\.coffee-shop\.svc\.cluster\.local".*response_code="503"/,
      ),
    ).toBeGreaterThan(0);
    expect(
      count(
        /reporter="waypoint".*source_workload="inventory-service".*destination_service="payment-service\.coffee-shop\.svc\.cluster\.local".*response_code="403"/,
      ),
    ).toBeGreaterThanOrEqual(1);
    // The waypoint knows its callers from the mesh snapshot: app label, not "unknown".
    expect(count(/reporter="waypoint".*source_workload="order-service".*source_app="order-service"/)).toBeGreaterThan(
      0,
    );
    expect(
      count(
        /reporter="waypoint".*destination_service="slow-service\.coffee-shop\.svc\.cluster\.local".*response_code="504"/,
      ),
    ).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('tears everything down on SIGTERM, the waypoint included', async () => {
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      processes: Array<{ role: string; pid: number }>;
    };
    expect(record.processes.filter((p) => p.role === 'waypoint')).toHaveLength(2);
    const pids = record.processes.map((p) => p.pid);
    const code = await localMesh.stop();
    expect(code).toBe(0);
    expect(ours((await sh('ip', ['netns', 'list'])).stdout)).toEqual([]);
    expect(ours((await sh('ip', ['-o', 'link', 'show'])).stdout)).toEqual([]);
    expect(ours((await sh('ip', ['-o', 'route', 'show'])).stdout)).toEqual([]);
    expect(ours((await sh('iptables-save', [])).stdout)).toEqual(iptablesBefore);
    expect((await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n.startsWith(PREFIX))).toEqual([]);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`), `process ${pid} left behind`).toBe(false);
    expect((await sh('pgrep', ['-f', stateDir])).stdout.trim()).toBe('');
    expect(existsSync(path.join(stateDir, 'local.json'))).toBe(false);
    await expect(fetch(`http://127.0.0.1:${WAYPOINT_PORT}/config_dump`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${BAKERY_PORT}/config_dump`)).rejects.toThrow();
    expect(localMesh.stderr).toMatch(/"msg":"torn down".*"problems":0/);
  }, 60_000);
});
