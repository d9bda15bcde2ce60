// A hostile pod inside the coffee-shop (an ambient namespace with a waypoint), under
// `ambitctl local up` (the built CLI, as a user runs it). It holds a valid mesh identity
// (coffee-shop/intruder) and tries: path variants of a denied path (dot segments, %2e, %61,
// backslashes), a Host naming another service:port, spoofed JWT output and identity headers,
// TCP to a service whose ALLOW policy excludes it, plaintext from outside the mesh under
// STRICT, a 200 KB header, and 10,000 streams on one HBONE connection to the waypoint with a
// certificate minted from the local CA. Every attempt is refused or harmless, and after each
// one a legitimate call (order-service → payment-service, through agent and waypoint) works,
// and at the end no process of the mesh has crashed or been restarted.
// Own bridge, pod CIDR, netns prefix and node ports.
import http2 from 'node:http2';
import net from 'node:net';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { controlRequest, type UnitStatus } from '../../ctl/local/control.js';
import { describeNetns } from '../support/privileges.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';

const BRIDGE = 'ambt-h6a-br0';
const CIDR = '10.239.66.0/24';
const PREFIX = 'ambt-h6a-';
const PORT_OFFSET = 2260;
const ISSUER = 'https://issuer.coffee-shop.example';

const manifests = (jwks: string): string => `
apiVersion: v1
kind: ServiceAccount
metadata: { name: intruder, namespace: coffee-shop }
---
apiVersion: v1
kind: Pod
metadata: { name: intruder, namespace: coffee-shop, labels: { app: intruder } }
spec:
  serviceAccountName: intruder
  containers:
    - name: app
      command: ["node", "service.mjs"]
      env: [{ name: SERVICE_NAME, value: intruder }]
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: db, namespace: coffee-shop }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: coffee-shop }
spec:
  selector: { app: db }
  ports: [{ name: tcp-db, port: 5432, targetPort: 5432, appProtocol: tcp }]
---
apiVersion: v1
kind: Pod
metadata: { name: db, namespace: coffee-shop, labels: { app: db } }
spec:
  serviceAccountName: db
  containers:
    - name: app
      command: ["node", "service.mjs"]
      env: [{ name: SERVICE_NAME, value: db }, { name: PORT, value: "5432" }]
---
# TCP behind the waypoint: only order-service may talk to the database.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db, namespace: coffee-shop }
spec:
  selector: { matchLabels: { app: db } }
  action: ALLOW
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/coffee-shop/sa/order-service"] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: customer-admin, namespace: coffee-shop }
spec:
  selector: { matchLabels: { app: customer-service } }
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: customer-jwt, namespace: coffee-shop }
spec:
  selector: { matchLabels: { app: customer-service } }
  jwtRules:
    - issuer: ${ISSUER}
      jwks: '${jwks}'
      outputClaimToHeaders: [{ header: x-verified-sub, claim: sub }]
`;

interface LocalRecordView {
  planned: Array<{ name: string; ip: string }>;
  serviceVips: Array<{ name: string; vips: string[] }>;
  waypoints: Array<{ ip: string }>;
}

describeNetns('ambitctl local up: a hostile pod against the coffee-shop and its waypoint', () => {
  let work: string;
  let stateDir: string;
  let bigHeaderFile: string;
  let localMesh: LocalMesh;
  let record: LocalRecordView;
  let validToken: string;

  const exec = (pod: string, ...argv: string[]) =>
    sh(process.execPath, [CTL, 'local', 'exec', '--state-dir', stateDir, pod, '--', ...argv], 120_000);
  /** curl from a pod; the last line of stdout is the status code. */
  const curl = async (pod: string, ...args: string[]): Promise<{ code: number; status: string; body: string }> => {
    const r = await exec(pod, 'curl', '-sS', '-m', '10', '--path-as-is', '-w', '\n%{http_code}', ...args);
    const lines = r.stdout.split('\n');
    return { code: r.code, status: lines.at(-1) ?? '', body: lines.slice(0, -1).join('\n') };
  };
  /** The mesh keeps serving: order-service → payment-service through the agent and the waypoint. */
  const legit = async (): Promise<void> => {
    const r = await curl('order-service', 'http://payment-service:8080/pay');
    expect(r.status).toBe('200');
    expect((JSON.parse(r.body) as { service: string }).service).toBe('payment-service');
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ambt-h6a-'));
    stateDir = path.join(work, 'state');
    const keys = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] });
    validToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(keys.privateKey);
    const mesh = path.join(work, 'coffee-shop');
    await cp(path.join(REPO, 'examples', 'coffee-shop'), mesh, { recursive: true });
    await writeFile(path.join(mesh, 'adversarial.yaml'), manifests(jwks));
    bigHeaderFile = path.join(work, 'big-header.txt');
    await writeFile(bigHeaderFile, `x-big: ${'a'.repeat(200 * 1024)}\n`);
    localMesh = new LocalMesh({
      dir: mesh,
      stateDir,
      bridge: BRIDGE,
      cidr: CIDR,
      prefix: PREFIX,
      portOffset: PORT_OFFSET,
    });
    await localMesh.start();
    record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as LocalRecordView;
    await legit();
  }, 240_000);

  afterAll(async () => {
    await localMesh?.stop();
    await localMesh?.down();
    await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('path variants of a denied path are refused (dot segments, %2e, %61, backslashes)', async () => {
    for (const p of [
      '/admin',
      '/x/../admin',
      '/x/%2e%2e/admin',
      '/x/.%2E/admin',
      '/%61dmin',
      '/x\\..\\admin',
      '/./admin/users',
    ]) {
      const r = await curl('intruder', `http://customer-service:8080${p}`);
      expect(r.status, p).toBe('403');
      expect(r.body, p).toBe('RBAC: access denied');
    }
    expect((await curl('intruder', 'http://customer-service:8080/a%zz')).status).toBe('400');
    expect((await curl('intruder', 'http://customer-service:8080/profile')).status).toBe('200');
    await legit();
  }, 120_000);

  it('a Host naming another service:port does not move the request there', async () => {
    for (const host of ['payment-service.coffee-shop.svc.cluster.local:8080', 'payment-service:8080', 'db:5432']) {
      const r = await curl('intruder', '-H', `Host: ${host}`, 'http://customer-service:8080/pay');
      expect(r.status, host).toBe('404');
      expect(r.body, host).not.toContain('payment-service');
    }
    await legit();
  }, 60_000);

  it('spoofed JWT output and identity headers never reach the app', async () => {
    const r = await curl(
      'intruder',
      '-H',
      'x-verified-sub: root',
      '-H',
      'x-forwarded-client-cert: By=x;URI=spiffe://cluster.local/ns/coffee-shop/sa/order-service',
      'http://customer-service:8080/profile',
    );
    expect(r.status).toBe('200');
    const seen = JSON.parse(r.body) as { headers: Record<string, string>; caller: { identity?: string } };
    expect(seen.headers['x-verified-sub']).toBeUndefined();
    expect(seen.caller.identity).toBe('spiffe://cluster.local/ns/coffee-shop/sa/intruder');
    // The header does carry a verified claim.
    const ok = await curl(
      'intruder',
      '-H',
      `authorization: Bearer ${validToken}`,
      '-H',
      'x-verified-sub: root',
      'http://customer-service:8080/profile',
    );
    expect((JSON.parse(ok.body) as { headers: Record<string, string> }).headers['x-verified-sub']).toBe('alice');
    await legit();
  }, 60_000);

  it('TCP behind the waypoint is refused to a caller the ALLOW policy excludes', async () => {
    const denied = await curl('intruder', 'http://db:5432/rows');
    expect(denied.code).not.toBe(0);
    expect(denied.body).not.toContain('"service":"db"');
    const allowed = await curl('order-service', 'http://db:5432/rows');
    expect(allowed.status).toBe('200');
    expect((JSON.parse(allowed.body) as { service: string }).service).toBe('db');
    await legit();
  }, 60_000);

  it('plaintext from outside the mesh is refused under STRICT', async () => {
    const payment = record.planned.find((p) => p.name.startsWith('payment-service'))!;
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const s = net.connect({ host: payment.ip, port: 8080 });
      s.setTimeout(5_000, () => s.destroy());
      s.on('connect', () => s.write('GET /pay HTTP/1.1\r\nHost: payment-service\r\nConnection: close\r\n\r\n'));
      s.on('data', (d: Buffer) => {
        got += d.toString();
      });
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
    });
    expect(answer).not.toContain('payment-service-0');
    expect(answer).not.toMatch(/^HTTP\/1\.1 200/);
    await legit();
  }, 60_000);

  it('a 200 KB header gets 431', async () => {
    const r = await curl('intruder', '-H', `@${bigHeaderFile}`, 'http://customer-service:8080/profile');
    expect(r.status).toBe('431');
    await legit();
  }, 60_000);

  /**
   * An HBONE session to `ip`:15008 with a valid mesh certificate (an "intruder" identity the
   * controller's CA signed), ignoring the server's stream limit until its SETTINGS arrive so
   * the client sends as many streams as it can.
   */
  async function intruderSession(ip: string): Promise<http2.ClientHttp2Session> {
    const ca = await CertificateAuthority.loadOrCreate(path.join(stateDir, 'controller'));
    const creds = await ca.issue('spiffe://cluster.local/ns/coffee-shop/sa/intruder');
    const session = http2.connect(`https://${ip}:15008`, {
      key: creds.keyPem,
      cert: creds.certChainPem,
      ca: creds.rootsPem,
      checkServerIdentity: () => undefined,
      peerMaxConcurrentStreams: 20_000,
    });
    session.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    return session;
  }

  it('10,000 streams on one HBONE connection: at most 100 are served at once, and others keep being served', async () => {
    const waypoint = record.waypoints[0]!;
    const vip = record.serviceVips.find((s) => s.name === 'customer-service')!.vips[0]!;
    const session = await intruderSession(waypoint.ip);
    let accepted = 0;
    let refused = 0;
    const streams: http2.ClientHttp2Stream[] = [];
    const settled = Array.from(
      { length: 10_000 },
      () =>
        new Promise<void>((resolve) => {
          let s: http2.ClientHttp2Stream;
          try {
            s = session.request({ ':method': 'CONNECT', ':authority': `${vip}:8080` }, { endStream: false });
          } catch {
            refused++;
            resolve();
            return;
          }
          streams.push(s);
          s.on('response', (h) => {
            if (Number(h[':status']) === 200) accepted++;
            else refused++;
            resolve();
          });
          s.on('error', () => {
            refused++;
            resolve();
          });
          s.on('close', () => resolve());
        }),
    );
    await Promise.race([Promise.all(settled), new Promise((r) => setTimeout(r, 15_000))]);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(100);
    // While the intruder holds its streams, the mesh serves others.
    await legit();
    session.destroy();
    await legit();
    expect(refused + accepted).toBeGreaterThan(0);
  }, 120_000);

  it("10,000 streams on one HBONE connection to a pod's agent are as harmless", async () => {
    const payment = record.planned.find((p) => p.name.startsWith('payment-service'))!;
    const session = await intruderSession(payment.ip);
    let accepted = 0;
    const settled = Array.from(
      { length: 10_000 },
      () =>
        new Promise<void>((resolve) => {
          let s: http2.ClientHttp2Stream;
          try {
            s = session.request({ ':method': 'CONNECT', ':authority': `${payment.ip}:8080` }, { endStream: false });
          } catch {
            resolve();
            return;
          }
          s.on('response', (h) => {
            if (Number(h[':status']) === 200) accepted++;
            resolve();
          });
          s.on('error', () => resolve());
          s.on('close', () => resolve());
        }),
    );
    await Promise.race([Promise.all(settled), new Promise((r) => setTimeout(r, 15_000))]);
    expect(accepted).toBeLessThanOrEqual(100);
    await legit();
    session.destroy();
    await legit();
  }, 120_000);

  it('no component crashed or restarted during the attacks', async () => {
    const units = await controlRequest<UnitStatus[]>(path.join(stateDir, 'control.sock'), 'GET', '/units');
    const waypoint = units.find((u) => u.role === 'waypoint');
    const agent = units.find((u) => u.role === 'agent');
    expect(waypoint).toBeDefined();
    expect(agent).toBeDefined();
    for (const u of units) expect({ name: u.name, restarts: u.restarts }).toEqual({ name: u.name, restarts: 0 });
    await legit();
  }, 60_000);
});
