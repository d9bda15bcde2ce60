// Istio's egress gateway pattern on `ambitctl local up`: the coffee-shop plus an egress Gateway
// (local up runs its istio-egressgateway pod), a ServiceEntry for egress.external.example (the
// example's external-api outside the mesh, 203.0.113.10), one VirtualService bound to `mesh`
// and the gateway (the namespace's waypoint sends the host to the gateway's Service; the
// gateway sends it to the host's 443) and a DestinationRule originating TLS there. Checked on
// the wire: the external server answers from its TLS port, names the SNI, and saw the egress
// gateway pod's address as the client.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { pollUntil } from '../support/wait.js';
import { LocalMesh, REPO } from '../support/local-mesh.js';
import { curlFromPod, egressGatewayYaml } from './egress-fixtures.js';

const BRIDGE = 'ambt-g2g-br0';
const CIDR = '10.239.154.0/24';
const PREFIX = 'ambt-g2g-';
const PORT_OFFSET = 3680;
const HOST = 'egress.external.example';
const VIP = '198.18.0.11';

const EGRESS_GATEWAY = egressGatewayYaml({
  namespace: 'coffee-shop',
  host: HOST,
  gatewayPort: 80,
  addresses: [VIP],
  endpoint: { address: '203.0.113.10' },
  credentialName: 'external-api',
});

interface ExternalAnswer {
  host: string | null;
  client: string | null;
  tls: { sni: string | null; alpn: string | null } | null;
}

describeNetns('egress gateway on local up: mesh → waypoint → egress gateway → TLS to the external host', () => {
  let work: string;
  let stateDir: string;
  let mesh: LocalMesh;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ambt-g2g-'));
    stateDir = path.join(work, 'state');
    const dir = path.join(work, 'coffee-shop');
    await cp(path.join(REPO, 'examples', 'coffee-shop'), dir, { recursive: true });
    await writeFile(path.join(dir, 'egress-gateway.yaml'), EGRESS_GATEWAY);
    mesh = new LocalMesh({ dir, stateDir, bridge: BRIDGE, cidr: CIDR, prefix: PREFIX, portOffset: PORT_OFFSET });
    await mesh.start();
  }, 240_000);

  afterAll(async () => {
    await mesh?.stop();
    await mesh?.down();
    await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('the external server answers from its TLS port with the SNI, to the egress gateway pod', async () => {
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      planned: Array<{ namespace: string; name: string; ip: string }>;
    };
    const gatewayIp = record.planned.find((p) => p.name === 'istio-egressgateway')?.ip;
    expect(gatewayIp).toBeDefined();
    const answer = await pollUntil(
      async () => {
        const r = await curlFromPod(
          stateDir,
          { namespace: 'coffee-shop', name: 'web-frontend-0' },
          `http://${VIP}/through-the-gateway`,
          '-H',
          `host: ${HOST}`,
        );
        if (r.status !== '200') throw new Error(`curl: ${r.code} ${r.status} ${r.body} ${r.stderr}`);
        return JSON.parse(r.body) as ExternalAnswer;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'an answer through the egress gateway' },
    );
    expect(answer.host).toBe(HOST);
    expect(answer.tls).toMatchObject({ sni: HOST, alpn: 'http/1.1' });
    expect(answer.client?.replace(/^::ffff:/, '')).toBe(gatewayIp);
  }, 120_000);
});
