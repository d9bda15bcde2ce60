// Egress on `ambitctl local up` with examples/coffee-shop: the example's external-api runs
// outside the mesh (its own netns at 203.0.113.10, unknown to the controller). A mesh pod
// reaches it directly under ALLOW_ANY; REGISTRY_ONLY (the mesh ConfigMap, applied live)
// refuses that undeclared address while the host its ServiceEntry declares still passes; and
// the declared host goes through the namespace's waypoint, which originates TLS (DestinationRule
// SIMPLE, credentialName): the server's TLS port sees the handshake with the SNI and ALPN and
// answers what it saw, while plaintext to that port fails there; MUTUAL applied live makes the
// waypoint present the credential's client certificate.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { pollUntil } from '../support/wait.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';
import { curlFromPod } from './egress-fixtures.js';

const BRIDGE = 'ambt-g2e-br0';
const CIDR = '10.239.152.0/24';
const PREFIX = 'ambt-g2e-';
const PORT_OFFSET = 3520;
const EXTERNAL_IP = '203.0.113.10';
const DECLARED_VIP = '198.18.0.10';

const REGISTRY_ONLY = `apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
`;

const MUTUAL = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: external-api, namespace: coffee-shop }
spec:
  host: api.external.example
  trafficPolicy:
    portLevelSettings:
      - port: { number: 80 }
        tls: { mode: MUTUAL, credentialName: external-api, sni: api.external.example }
`;

interface ExternalAnswer {
  service: string;
  host: string | null;
  tls: { sni: string | null; alpn: string | null; clientAuthorized: boolean; clientSans: string[] } | null;
}

describeNetns('egress on local up: ServiceEntry, REGISTRY_ONLY and TLS origination to a host outside the mesh', () => {
  let work: string;
  let stateDir: string;
  let mesh: LocalMesh;

  const ctl = (...args: string[]) => sh(process.execPath, [CTL, 'local', ...args], 120_000);
  /** curl from the coffee-shop's web-frontend pod. */
  const curl = (url: string, ...args: string[]) =>
    curlFromPod(stateDir, { namespace: 'coffee-shop', name: 'web-frontend-0' }, url, ...args);
  const externalLog = async (): Promise<Array<Record<string, unknown>>> => {
    const text = await readFile(path.join(stateDir, 'logs', 'external.external-api.log'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ambt-g2e-'));
    stateDir = path.join(work, 'state');
    mesh = new LocalMesh({
      dir: path.join(REPO, 'examples', 'coffee-shop'),
      stateDir,
      bridge: BRIDGE,
      cidr: CIDR,
      prefix: PREFIX,
      portOffset: PORT_OFFSET,
    });
    await mesh.start();
    // The external server is supervised like a pod: wait until both its ports listen.
    await pollUntil(async () => (await externalLog()).filter((l) => l.event === 'listening').length >= 2 || undefined, {
      timeoutMs: 60_000,
      what: 'external-api listening on 80 and 443',
    });
  }, 240_000);

  afterAll(async () => {
    await mesh?.stop();
    await mesh?.down();
    await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('ALLOW_ANY (the default): a mesh pod reaches the undeclared external address directly, in plain HTTP', async () => {
    const r = await curl(`http://${EXTERNAL_IP}/direct`);
    expect(r.status).toBe('200');
    const answer = JSON.parse(r.body) as ExternalAnswer;
    expect(answer).toMatchObject({ service: 'external-api', tls: null });
  });

  it('the declared host goes through the waypoint, which originates TLS: the server sees SNI and ALPN', async () => {
    const before = (await externalLog()).filter((l) => l.event === 'tls').length;
    const r = await curl(`http://${DECLARED_VIP}/menu`, '-H', 'host: api.external.example');
    expect(r.status).toBe('200');
    const answer = JSON.parse(r.body) as ExternalAnswer;
    expect(answer.host).toBe('api.external.example');
    expect(answer.tls).toMatchObject({ sni: 'api.external.example', alpn: 'http/1.1' });
    // On the wire: the server's own log of the TLS handshake.
    const handshakes = await pollUntil(
      async () => {
        const tls = (await externalLog()).filter((l) => l.event === 'tls');
        return tls.length > before ? tls : undefined;
      },
      { timeoutMs: 10_000, what: 'the TLS handshake in the external server log' },
    );
    expect(handshakes.at(-1)).toMatchObject({ sni: 'api.external.example', alpn: 'http/1.1' });
  });

  it('the TLS port speaks only TLS: plaintext sent to it directly fails there', async () => {
    const before = (await externalLog()).filter((l) => l.event === 'tls-error').length;
    const r = await curl(`http://${EXTERNAL_IP}:443/plain`);
    expect(r.status).not.toBe('200');
    await pollUntil(
      async () => (await externalLog()).filter((l) => l.event === 'tls-error').length > before || undefined,
      { timeoutMs: 10_000, what: 'the failed handshake in the external server log' },
    );
  });

  it("MUTUAL (DestinationRule applied live): the waypoint presents the credential's client certificate", async () => {
    const file = path.join(work, 'mutual.yaml');
    await writeFile(file, MUTUAL);
    const applied = await ctl('apply', '--state-dir', stateDir, '-f', file);
    expect(applied.code, applied.stderr).toBe(0);
    const tls = await pollUntil(
      async () => {
        const r = await curl(`http://${DECLARED_VIP}/mutual`, '-H', 'host: api.external.example');
        const answer = r.status === '200' ? (JSON.parse(r.body) as ExternalAnswer) : undefined;
        if (answer?.tls?.clientAuthorized) return answer.tls;
        throw new Error(`last answer: ${r.status} ${r.body}`);
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the external server to see a client certificate it trusts' },
    );
    expect(tls).toMatchObject({ sni: 'api.external.example', clientSans: ['DNS:mesh-egress-client'] });
    // Back to SIMPLE origination by applying the example's own file again: the rule moves back
    // from mutual.yaml to egress.yaml and is never missing on the way; no client certificate.
    const restored = await ctl(
      'apply',
      '--state-dir',
      stateDir,
      '-f',
      path.join(REPO, 'examples/coffee-shop/egress.yaml'),
    );
    expect(restored.code, restored.stderr).toBe(0);
    await pollUntil(
      async () => {
        const r = await curl(`http://${DECLARED_VIP}/simple`, '-H', 'host: api.external.example');
        const answer = r.status === '200' ? (JSON.parse(r.body) as ExternalAnswer) : undefined;
        if (answer?.tls && !answer.tls.clientAuthorized && answer.tls.clientSans.length === 0) return true;
        throw new Error(`last answer: ${r.status} ${r.body}`);
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'SIMPLE origination again' },
    );
  }, 180_000);

  it('REGISTRY_ONLY refuses the undeclared external address and still allows the declared host', async () => {
    const file = path.join(work, 'registry-only.yaml');
    await writeFile(file, REGISTRY_ONLY);
    const applied = await ctl('apply', '--state-dir', stateDir, '-f', file);
    expect(applied.code, applied.stderr).toBe(0);
    // The mesh setting reaches the agent with the next push: poll until the direct call is refused.
    const refused = await pollUntil(
      async () => {
        const r = await curl(`http://${EXTERNAL_IP}/direct`);
        return r.status === '200' ? undefined : r;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'REGISTRY_ONLY to refuse the undeclared address' },
    );
    expect(refused.status).toBe('000');
    const declared = await curl(`http://${DECLARED_VIP}/menu`, '-H', 'host: api.external.example');
    expect(declared.status).toBe('200');
    expect((JSON.parse(declared.body) as ExternalAnswer).tls?.sni).toBe('api.external.example');

    const deleted = await ctl('delete', '--state-dir', stateDir, '-f', file);
    expect(deleted.code, deleted.stderr).toBe(0);
    await pollUntil(async () => (await curl(`http://${EXTERNAL_IP}/direct`)).status === '200' || undefined, {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: 'ALLOW_ANY again once the ConfigMap is gone',
    });
  });
});
