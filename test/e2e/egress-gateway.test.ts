// Istio's egress gateway pattern (tasks/traffic-management/egress: egress gateway + TLS
// origination), in process: the objects of the docs (ServiceEntry, Gateway selecting
// istio=egressgateway, one VirtualService bound to `mesh` and the gateway, DestinationRule
// SIMPLE on the external host's 443) go through the controller's translator; the mesh side (the
// namespace's waypoint) sends the external host to the egress gateway's Service, and the gateway
// (the waypoint binary in egress-gateway mode, its runtime and listeners) sends it to the
// external host's 443, originating TLS: the external TLS server sees the handshake with the SNI.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../controller/sources/types.js';
import { translate } from '../../controller/translate/index.js';
import { HbonePool } from '../../core/hbone/index.js';
import { createLogger } from '../../core/log.js';
import { createMeshMetrics } from '../../core/metrics/mesh-metrics.js';
import { writeOutsideHostPki } from '../../ctl/local/outside-hosts.js';
import { folderCredentials, GatewayCredentials } from '../../waypoint/gateway/credentials.js';
import { GatewayRuntime } from '../../waypoint/gateway/gateway-runtime.js';
import { GatewayListeners } from '../../waypoint/gateway/listeners.js';
import { WaypointRuntime } from '../../waypoint/runtime.js';
import { WaypointTelemetry } from '../../waypoint/telemetry.js';
import { testCa, testCredentials } from '../support/pki.js';
import { freePort } from '../support/net.js';
import { egressGatewayYaml } from './egress-fixtures.js';

const HOST = 'api.external.example';
const EGRESS_SVC = 'istio-egressgateway.istio-system.svc.cluster.local';

function objects(gatewayPort: number, tlsPort: number): KubeObject[] {
  const yaml = `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: istio-system, labels: { mesh-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: istio-system }
spec:
  gatewayClassName: ambit-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
status:
  addresses: [{ type: IPAddress, value: 10.0.0.9 }]
---
${egressGatewayYaml({
  namespace: 'istio-system',
  host: HOST,
  gatewayPort,
  endpoint: { address: '127.0.0.1', httpsPort: tlsPort },
  credentialName: 'external-api',
})}`;
  return parseAllDocuments(yaml).map((d) => d.toJS() as KubeObject);
}

describe("egress gateway with TLS origination (Istio's egress gateway pattern)", () => {
  let dir: string;
  let gatewayPort: number;
  let external: tls.Server;
  const handshakes: Array<{ sni: string | false; alpn: string | false }> = [];
  let runtime: WaypointRuntime;
  let listeners: GatewayListeners;
  let credentials: GatewayCredentials;
  let pool: HbonePool;
  let result: ReturnType<typeof translate>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-egress-gw-'));
    // The external server: TLS only, a certificate from a CA of its own, which is published as the
    // credential external-api (ca.crt), as local up does for a host outside the mesh.
    const files = await writeOutsideHostPki({
      stateDir: dir,
      credentialsDir: path.join(dir, 'credentials'),
      host: { name: 'external-api', address: '127.0.0.1' },
      serverNames: [HOST],
    });
    external = tls.createServer({
      cert: await readFile(files.TLS_CERT!, 'utf8'),
      key: await readFile(files.TLS_KEY!, 'utf8'),
      ALPNProtocols: ['http/1.1'],
    });
    const app = http.createServer((req, res) => res.end(`external saw ${req.headers.host} ${req.url}`));
    external.on('secureConnection', (s) => {
      handshakes.push({
        sni: (s as tls.TLSSocket & { servername: string | false }).servername,
        alpn: s.alpnProtocol ?? false,
      });
      app.emit('connection', s);
    });
    await new Promise<void>((r) => external.listen(0, '127.0.0.1', r));
    const tlsPort = (external.address() as AddressInfo).port;

    gatewayPort = await freePort();
    result = translate(objects(gatewayPort, tlsPort));
    const ca = await testCa();
    const creds = await testCredentials(ca, 'istio-system', 'istio-egressgateway');
    pool = new HbonePool();
    const log = createLogger('egress-gateway-test');
    runtime = new WaypointRuntime({
      pool,
      credentials: () => creds,
      log,
      localIp: '127.0.0.1',
      credentialsDir: path.join(dir, 'credentials'),
    });
    credentials = new GatewayCredentials({ reader: folderCredentials(dir), log, refreshMs: 0 });
    listeners = new GatewayListeners({
      transports: runtime.transports,
      credentials,
      log,
      host: '127.0.0.1',
      pipeline: () => runtime.pipeline(),
      telemetry: new WaypointTelemetry(createMeshMetrics({ component: 'waypoint', http: true }), false),
      selfIdentity: () => creds.identity,
    });
    const gateway = new GatewayRuntime({
      self: { namespace: 'istio-system', labels: { istio: 'egressgateway' }, trustDomain: 'cluster.local' },
      runtime,
      listeners,
      credentials,
      log,
    });
    const problems = gateway.apply(
      [...result.gateways.values()],
      { mesh: undefined, authorizationPolicies: [], peerAuthentications: [] },
      [],
    );
    expect(problems).toEqual([]);
    await gateway.settled();
  }, 60_000);

  afterAll(async () => {
    await listeners?.close();
    credentials?.close();
    runtime?.close();
    pool?.destroy();
    await new Promise<void>((r) => (external ? external.close(() => r()) : r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('the translator accepts every object of the pattern', () => {
    expect(result.rejected).toEqual([]);
    expect(result.gateways.size).toBe(1);
  });

  it("the mesh side: the namespace's waypoint routes the external host's port 80 to the egress gateway", () => {
    const wp = result.waypoints.get('istio-system');
    const vh = wp?.virtualHosts.find((v) => v.domains.includes(HOST) && v.port === 80);
    expect(vh?.routes.flatMap((r) => (r.destinations ?? []).map((d) => `${d.host}:${d.port}`))).toEqual([
      `${EGRESS_SVC}:${gatewayPort}`,
    ]);
  });

  it('the gateway sends the external host to its 443 over TLS it originates (SNI and ALPN on the wire)', async () => {
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: gatewayPort, path: '/menu', headers: { host: HOST }, agent: false },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
    });
    expect(body).toEqual({ status: 200, text: `external saw ${HOST} /menu` });
    expect(handshakes.at(-1)).toEqual({ sni: HOST, alpn: 'http/1.1' });
  });
});
