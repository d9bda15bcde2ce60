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
import { describeNetns } from '../helpers/privileges.js';
import { pollUntil } from '../support/wait.js';
import { CTL, LocalMesh, REPO, sh } from './local-mesh.js';

const BRIDGE = 'ambt-g2g-br0';
const CIDR = '10.239.154.0/24';
const PREFIX = 'ambt-g2g-';
const PORT_OFFSET = 3680;
const HOST = 'egress.external.example';
const VIP = '198.18.0.11';

const EGRESS_GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress-gateway, namespace: coffee-shop }
spec:
  selector: { istio: egressgateway }
  servers:
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: [${HOST}]
---
apiVersion: v1
kind: Service
metadata: { name: istio-egressgateway, namespace: coffee-shop }
spec:
  selector: { istio: egressgateway }
  ports: [{ name: http, port: 80, targetPort: 80 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: egress-external, namespace: coffee-shop }
spec:
  hosts: [${HOST}]
  addresses: [${VIP}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 80, name: http, protocol: HTTP }
    - { number: 443, name: https, protocol: HTTPS }
  endpoints:
    - { address: 203.0.113.10 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: egress-external, namespace: coffee-shop }
spec:
  hosts: [${HOST}]
  gateways: [mesh, egress-gateway]
  http:
    - match: [{ gateways: [mesh], port: 80 }]
      route: [{ destination: { host: istio-egressgateway.coffee-shop.svc.cluster.local, port: { number: 80 } } }]
    - match: [{ gateways: [egress-gateway], port: 80 }]
      route: [{ destination: { host: ${HOST}, port: { number: 443 } } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: egress-external, namespace: coffee-shop }
spec:
  host: ${HOST}
  trafficPolicy:
    portLevelSettings:
      - port: { number: 443 }
        tls: { mode: SIMPLE, credentialName: external-api, sni: ${HOST} }
`;

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
        const r = await sh(
          process.execPath,
          [
            CTL,
            'local',
            'exec',
            '--state-dir',
            stateDir,
            '-n',
            'coffee-shop',
            'web-frontend-0',
            '--',
            'curl',
            '-sS',
            '-m',
            '10',
            '-H',
            `host: ${HOST}`,
            `http://${VIP}/through-the-gateway`,
          ],
          60_000,
        );
        if (r.code !== 0 || !r.stdout.startsWith('{')) throw new Error(`curl: ${r.code} ${r.stdout} ${r.stderr}`);
        return JSON.parse(r.stdout) as ExternalAnswer;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'an answer through the egress gateway' },
    );
    expect(answer.host).toBe(HOST);
    expect(answer.tls).toMatchObject({ sni: HOST, alpn: 'http/1.1' });
    expect(answer.client?.replace(/^::ffff:/, '')).toBe(gatewayIp);
  }, 120_000);
});
