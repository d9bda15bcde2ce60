// VirtualService tcp and tls routes and corsPolicy under `ambitctl local up` (the built CLI):
// pod → agent → HBONE → waypoint → HBONE → agent → pod. A tcp route splits 200 connections
// 80/20 between two versions of a TCP service; a tls route sends a ClientHello to the version
// its SNI names (the bytes reach the app untouched: it reads the SNI itself); a CORS preflight
// is answered by the waypoint and the app never sees it. Own bridge, pod CIDR, netns prefix
// and node ports.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeNetns } from '../support/privileges.js';
import { pollUntil } from '../support/wait.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';

const BRIDGE = 'ambt-g4-br0';
const CIDR = '10.239.44.0/24';
const PREFIX = 'ambt-g4-';
const PORT_OFFSET = 4440;
const DB_VIP = '10.96.44.10';
const SECURE_VIP = '10.96.44.11';

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: { name: edge, labels: { mesh-mode: ambient, mesh-waypoint: wp } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: edge }
spec:
  gatewayClassName: ambit-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: edge }
spec:
  clusterIP: ${DB_VIP}
  selector: { app: db }
  ports: [{ name: tcp, port: 9000, targetPort: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: secure, namespace: edge }
spec:
  clusterIP: ${SECURE_VIP}
  selector: { app: db }
  ports: [{ name: tls, port: 9443, targetPort: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: edge }
spec:
  selector: { app: api }
  ports: [{ name: http, port: 8080, targetPort: 8080, appProtocol: http }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: db, namespace: edge }
spec:
  host: db
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: edge }
spec:
  hosts: [db]
  tcp:
    - route:
        - { destination: { host: db, subset: v1 }, weight: 80 }
        - { destination: { host: db, subset: v2 }, weight: 20 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: secure, namespace: edge }
spec:
  hosts: [secure]
  tls:
    - match: [{ sniHosts: [one.example] }]
      route: [{ destination: { host: db, subset: v1, port: { number: 9000 } } }]
    - match: [{ sniHosts: ["*.two.example"] }]
      route: [{ destination: { host: db, subset: v2, port: { number: 9000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: edge }
spec:
  hosts: [api]
  http:
    - corsPolicy:
        allowOrigins: [{ exact: "https://shop.example" }]
        allowMethods: [GET, POST]
        maxAge: 1h
      route: [{ destination: { host: api } }]
${['v1', 'v2']
  .map(
    (v) => `---
apiVersion: v1
kind: Pod
metadata: { name: db-${v}, namespace: edge, labels: { app: db, version: ${v} } }
spec:
  serviceAccountName: db
  containers:
    - name: app
      command: ["node", "tcp-server.mjs"]
      env: [{ name: VERSION, value: ${v} }]
`,
  )
  .join('')}---
apiVersion: v1
kind: Pod
metadata: { name: api, namespace: edge, labels: { app: api, version: v1 } }
spec:
  serviceAccountName: api
  containers:
    - name: app
      command: ["node", "service.mjs"]
      env: [{ name: SERVICE_NAME, value: api }]
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: edge, labels: { app: client } }
spec:
  serviceAccountName: client
  containers:
    - name: app
      command: ["node", "-e", "setInterval(() => {}, 1 << 30)"]
`;

// The TCP app: answers each connection, after its first bytes, with its version and, when
// those bytes are a TLS ClientHello, the server name in it (so the test sees the hello arrive whole).
const TCP_SERVER = `
import net from 'node:net';
function sni(b) {
  try {
    if (b[0] !== 0x16 || b[5] !== 0x01) return '-';
    let p = 5 + 4 + 2 + 32;
    p += 1 + b[p];
    p += 2 + b.readUInt16BE(p);
    p += 1 + b[p];
    const end = p + 2 + b.readUInt16BE(p);
    p += 2;
    while (p < end) {
      const type = b.readUInt16BE(p), len = b.readUInt16BE(p + 2);
      if (type === 0) return b.subarray(p + 9, p + 9 + b.readUInt16BE(p + 7)).toString('latin1');
      p += 4 + len;
    }
  } catch {}
  return '-';
}
net.createServer({ allowHalfOpen: true }, (s) => {
  s.once('data', (d) => s.end('version=' + process.env.VERSION + ' sni=' + sni(d)));
  s.on('error', () => {});
}).listen(9000);
`;

// Run inside the client pod: N connections (C at a time) to host:port, each sending one
// payload (a ClientHello with the given SNI, or a line) and counting the answers.
const CLIENT = `
import net from 'node:net';
const [host, port, total, concurrency, sni] = process.argv.slice(2);
function hello(name) {
  const u16 = (n) => Buffer.from([n >> 8, n & 255]);
  const nameBuf = Buffer.from(name, 'latin1');
  const entry = Buffer.concat([Buffer.from([0]), u16(nameBuf.length), nameBuf]);
  const list = Buffer.concat([u16(entry.length), entry]);
  const ext = Buffer.concat([u16(0), u16(list.length), list]);
  const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 1), Buffer.from([0]), u16(2), Buffer.from([0x13, 1]),
    Buffer.from([1, 0]), u16(ext.length), ext]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
}
const payload = sni ? hello(sni) : Buffer.from('hello\\n');
const out = { answers: {}, errors: {} };
let next = 0;
const one = () => new Promise((resolve) => {
  const s = net.connect({ host, port: Number(port), allowHalfOpen: true });
  let text = '';
  s.setTimeout(15000, () => s.destroy(new Error('timeout')));
  s.on('connect', () => s.write(payload));
  s.on('data', (d) => { text += d; });
  s.on('end', () => { out.answers[text] = (out.answers[text] ?? 0) + 1; s.end(); resolve(); });
  s.on('error', (e) => { out.errors[e.code ?? e.message] = (out.errors[e.code ?? e.message] ?? 0) + 1; resolve(); });
});
const worker = async () => { while (next++ < Number(total)) await one(); };
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
console.log(JSON.stringify(out));
`;

interface ClientResult {
  answers: Record<string, number>;
  errors: Record<string, number>;
}

describeNetns('ambitctl local up: VirtualService tcp/tls routes and corsPolicy at the waypoint', () => {
  let work: string;
  let stateDir: string;
  let clientFile: string;
  let localMesh: LocalMesh;

  const exec = (pod: string, ...argv: string[]) =>
    sh(process.execPath, [CTL, 'local', 'exec', '--state-dir', stateDir, '-n', 'edge', pod, '--', ...argv], 180_000);
  const connections = async (host: string, port: number, total: number, sni = ''): Promise<ClientResult> => {
    const res = await exec('client', process.execPath, clientFile, host, String(port), String(total), '20', sni);
    expect(res.stderr).toBe('');
    return JSON.parse(res.stdout) as ClientResult;
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), PREFIX));
    stateDir = path.join(work, 'state');
    const dir = path.join(work, 'edge');
    await mkdir(dir);
    await writeFile(path.join(dir, 'edge.yaml'), MANIFESTS);
    await writeFile(path.join(dir, 'tcp-server.mjs'), TCP_SERVER);
    await copyFile(path.join(REPO, 'examples', 'coffee-shop', 'service.mjs'), path.join(dir, 'service.mjs'));
    clientFile = path.join(work, 'client.mjs');
    await writeFile(clientFile, CLIENT);
    localMesh = new LocalMesh({ dir, stateDir, bridge: BRIDGE, cidr: CIDR, prefix: PREFIX, portOffset: PORT_OFFSET });
    await localMesh.start();
    // `ready` means enrolled with certificates; the apps may still be starting: wait until both
    // versions answer through the waypoint (a few connections hit both at 80/20 soon enough).
    await pollUntil(
      async () => {
        const r = await connections(DB_VIP, 9000, 20);
        return Object.keys(r.answers).length === 2 && Object.keys(r.errors).length === 0;
      },
      { what: 'both db versions answering through the waypoint', timeoutMs: 90_000, intervalMs: 500 },
    );
  }, 240_000);

  afterAll(async () => {
    await localMesh?.stop();
    await localMesh?.down();
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('a tcp route splits 200 connections 80/20 between v1 and v2', async () => {
    const r = await connections(DB_VIP, 9000, 200);
    expect(r.errors).toEqual({});
    const v1 = r.answers['version=v1 sni=-'] ?? 0;
    const v2 = r.answers['version=v2 sni=-'] ?? 0;
    expect(v1 + v2).toBe(200);
    // Binomial(200, 0.8): sd 5.7; ±34 is six standard deviations, a broken split lands outside.
    expect(v2).toBeGreaterThan(0);
    expect(Math.abs(v1 - 160)).toBeLessThanOrEqual(34);
  }, 180_000);

  it('a tls route picks the version by the SNI of the ClientHello, which reaches the app whole', async () => {
    const one = await connections(SECURE_VIP, 9443, 10, 'one.example');
    expect(one).toEqual({ answers: { 'version=v1 sni=one.example': 10 }, errors: {} });
    const two = await connections(SECURE_VIP, 9443, 10, 'db.two.example');
    expect(two).toEqual({ answers: { 'version=v2 sni=db.two.example': 10 }, errors: {} });
  }, 180_000);

  it('answers a CORS preflight at the waypoint; an actual request gets Access-Control-Allow-Origin', async () => {
    // Response head (and body) of one request from the client pod, with an Origin.
    const origin = 'Origin: https://shop.example';
    const url = 'http://api.edge:8080/orders';
    const curl = (...args: string[]) =>
      exec('client', 'curl', '-sS', '-m', '10', '-D', '-', '-H', origin, ...args, url);
    const pre = await curl('-o', '/dev/null', '-X', 'OPTIONS', '-H', 'Access-Control-Request-Method: POST');
    expect(pre.stdout).toMatch(/^HTTP\/1.1 200/);
    expect(pre.stdout).toMatch(/^access-control-allow-origin: https:\/\/shop\.example\r?$/im);
    expect(pre.stdout).toMatch(/^access-control-allow-methods: GET,POST\r?$/im);
    expect(pre.stdout).toMatch(/^access-control-max-age: 3600\r?$/im);
    const get = await curl();
    expect(get.stdout).toMatch(/^HTTP\/1.1 200/);
    expect(get.stdout).toMatch(/^access-control-allow-origin: https:\/\/shop\.example\r?$/im);
    expect(get.stdout).toContain('"service":"api"');
  }, 60_000);
});
