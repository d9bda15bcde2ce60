// Gateway API routes with a Service parent (GAMMA), from YAML through the controller's
// translator to a real waypoint (HBONE in and out, loopback pods):
// - an HTTPRoute on customer-service splits requests 80/20 between two version Services and
//   sets a request header;
// - a GRPCRoute routes by gRPC method: a real @grpc/grpc-js client and server, the waypoint
//   speaking HTTP/2 (h2c in the tunnel) to the grpc port, status codes and trailers kept.
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { translate, formatRejection } from '../../controller/translate/index.js';
import { yamlObjects } from '../../controller/translate/testdata/load.js';
import type { WaypointConfig } from '../../core/model/l7.js';
import { testCa } from '../support/pki.js';
import { APP_PORT, VIP, WaypointHarness } from '../support/waypoint-harness.js';

const GRPC_PORT = APP_PORT + 7;

/** The mesh of the test: namespace coffee-shop with its waypoint, the service on VIP, v1/v2 pods at `ips`. */
function mesh(ips: readonly [string, string], port: { name: string; target: number }, route: string): string {
  const pod = (version: string, ip: string): string => `apiVersion: v1
kind: Pod
metadata: { name: customer-${version}, namespace: coffee-shop, labels: { app: customer-service, version: ${version} } }
spec: { serviceAccountName: customer-service }
status: { phase: Running, podIP: ${ip} }
---
apiVersion: v1
kind: Service
metadata: { name: customer-${version}, namespace: coffee-shop }
spec:
  selector: { app: customer-service, version: ${version} }
  ports: [{ name: ${port.name}, port: ${APP_PORT}, targetPort: ${port.target} }]
`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: coffee-shop, labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: coffee-shop }
spec: { gatewayClassName: ambit-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Service
metadata: { name: customer-service, namespace: coffee-shop }
spec:
  clusterIP: ${VIP}
  selector: { app: customer-service }
  ports: [{ name: ${port.name}, port: ${APP_PORT}, targetPort: ${port.target} }]
---
${pod('v1', ips[0])}---
${pod('v2', ips[1])}---
${route}`;
}

function waypointFor(yaml: string): WaypointConfig {
  const result = translate(yamlObjects(yaml));
  expect(result.rejected.map(formatRejection)).toEqual([]);
  const wp = result.waypoints.get('coffee-shop');
  if (!wp) throw new Error('no waypoint config for coffee-shop');
  return wp;
}

describe('waypoint: HTTPRoute with a Service parent (GAMMA)', () => {
  let w: WaypointHarness;

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods(
      [
        { name: 'v1', labels: { app: 'customer-service', version: 'v1' }, sa: 'customer-service' },
        { name: 'v2', labels: { app: 'customer-service', version: 'v2' }, sa: 'customer-service' },
      ],
      150,
    );
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: customer-split, namespace: coffee-shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: customer-service, port: ${APP_PORT} }]
  rules:
    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-gamma, value: "on" }], remove: [x-drop] }
      backendRefs:
        - { name: customer-v1, port: ${APP_PORT}, weight: 80 }
        - { name: customer-v2, port: ${APP_PORT}, weight: 20 }
`;
    await w.startWaypoint(waypointFor(mesh([w.pods[0]!.ip, w.pods[1]!.ip], { name: 'http', target: APP_PORT }, route)));
  }, 60_000);

  afterAll(async () => {
    await w?.close();
  });

  it('splits 200 requests 80/20 between the version Services and sets the header on each', async () => {
    const N = 200;
    for (let i = 0; i < N; i++) {
      const res = await w.request({ headers: { 'x-drop': 'secret' } });
      expect(res.status).toBe(200);
    }
    const [v1, v2] = w.pods.map((p) => p.seen.length) as [number, number];
    expect(v1 + v2).toBe(N);
    // 80% of 200 = 160, sigma = sqrt(200 * 0.8 * 0.2) ≈ 5.7: six sigma either way.
    expect(v1).toBeGreaterThan(160 - 34);
    expect(v1).toBeLessThan(160 + 34);
    for (const seen of w.pods.flatMap((p) => p.seen)) {
      expect(seen.headers['x-gamma']).toBe('on');
      expect(seen.headers['x-drop']).toBeUndefined();
    }
  });
});

/** Method name → handler answering with the pod's name (or NOT_FOUND for `Missing`). */
const JSON_CODEC = {
  requestSerialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer): unknown => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer): unknown => JSON.parse(b.toString()) as unknown,
};
const SERVICE: grpc.ServiceDefinition = Object.fromEntries(
  ['Get', 'List', 'Missing'].map((m) => [
    m,
    { path: `/shop.Customers/${m}`, requestStream: false, responseStream: false, ...JSON_CODEC },
  ]),
) as grpc.ServiceDefinition;

type Answer = { pod: string; method: string };

describe('waypoint: GRPCRoute with a Service parent, by method, over HTTP/2 to the backend', () => {
  let w: WaypointHarness;
  const servers: grpc.Server[] = [];
  let proxy: net.Server;
  let client: grpc.Client &
    Record<string, (req: unknown, cb: (err: grpc.ServiceError | null, res?: Answer) => void) => void>;

  beforeAll(async () => {
    w = new WaypointHarness(await testCa());
    await w.startPods(
      [
        { name: 'v1', labels: { app: 'customer-service', version: 'v1' }, sa: 'customer-service' },
        { name: 'v2', labels: { app: 'customer-service', version: 'v2' }, sa: 'customer-service' },
      ],
      155,
    );
    // Each pod also serves gRPC on GRPC_PORT (its HBONE terminator forwards any port).
    for (const pod of w.pods) {
      const server = new grpc.Server();
      const handler =
        (method: string): grpc.handleUnaryCall<unknown, Answer> =>
        (_call, cb) =>
          method === 'Missing'
            ? cb({ code: grpc.status.NOT_FOUND, details: `nothing here (${pod.name})` })
            : cb(null, { pod: pod.name, method });
      server.addService(SERVICE, { Get: handler('Get'), List: handler('List'), Missing: handler('Missing') });
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`${pod.ip}:${GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      servers.push(server);
    }
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: customers, namespace: coffee-shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: customer-service }]
  rules:
    - matches: [{ method: { service: shop.Customers, method: Get } }]
      filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-routed, value: get }] } }]
      backendRefs: [{ name: customer-v2, port: ${APP_PORT} }]
    - backendRefs: [{ name: customer-v1, port: ${APP_PORT} }]
`;
    const config = waypointFor(mesh([w.pods[0]!.ip, w.pods[1]!.ip], { name: 'grpc', target: GRPC_PORT }, route));
    expect(config.clusters.every((c) => c.protocol === 'grpc')).toBe(true);
    await w.startWaypoint(config);
    // The client app's connections enter the mesh as an agent would carry them: an HBONE tunnel to the waypoint.
    proxy = net.createServer((socket) => {
      w.rawTunnel('web-frontend').then(
        (tunnel) => {
          socket.pipe(tunnel).pipe(socket);
          tunnel.on('error', () => socket.destroy());
          socket.on('error', () => tunnel.destroy());
        },
        () => socket.destroy(),
      );
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const Client = grpc.makeGenericClientConstructor(SERVICE, 'Customers');
    client = new Client(`127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': `customer-service:${APP_PORT}`,
    }) as typeof client;
  }, 60_000);

  afterAll(async () => {
    client?.close();
    proxy?.close();
    for (const s of servers) s.forceShutdown();
    await w?.close();
  });

  const call = (method: string): Promise<{ answer?: Answer; err?: grpc.ServiceError; headers: grpc.Metadata }> =>
    new Promise((resolve) => {
      let headers = new grpc.Metadata();
      const c = client.makeUnaryRequest(
        `/shop.Customers/${method}`,
        JSON_CODEC.requestSerialize,
        JSON_CODEC.responseDeserialize as (b: Buffer) => Answer,
        {},
        new grpc.Metadata(),
        { deadline: Date.now() + 15_000 },
        (err, answer) => resolve({ ...(err ? { err } : {}), ...(answer ? { answer } : {}), headers }),
      );
      c.on('metadata', (m: grpc.Metadata) => (headers = m));
    });

  it('Get goes to v2 (with the response header), every other method to v1', async () => {
    for (let i = 0; i < 5; i++) {
      const get = await call('Get');
      expect(get.err).toBeUndefined();
      expect(get.answer).toEqual({ pod: 'v2', method: 'Get' });
      expect(get.headers.get('x-routed')).toEqual(['get']);
      const list = await call('List');
      expect(list.answer).toEqual({ pod: 'v1', method: 'List' });
      expect(list.headers.get('x-routed')).toEqual([]);
    }
  });

  it('a gRPC error status and its message come back through the waypoint (trailers kept)', async () => {
    const missing = await call('Missing');
    expect(missing.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(missing.err?.details).toBe('nothing here (v1)');
  });
});
