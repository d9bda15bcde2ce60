import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';
import { spiffeIdFor } from '../../core/identity/spiffe.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import type { GatewayConfig, WaypointConfig } from '../../core/model/l7.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { discoveryService, type DeltaRequest, type DeltaResponse } from '../../core/xds/proto.js';
import { TYPE_AUTHORIZATION_POLICY, TYPE_WAYPOINT_CONFIG, TYPE_WORKLOAD } from '../../core/xds/resources.js';
import { XdsMeshSource } from '../../core/xds/mesh-source.js';
import { XdsWaypointSource } from '../../core/xds/waypoint-source.js';
import { DiscoveryClient } from '../../core/xds/client.js';
import { testCa } from '../../test/support/pki.js';
import { denyPolicy, snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { waitFor } from '../../test/support/wait.js';
import { DiscoveryServer } from './server.js';
import { buildResourceSet, encode } from './resources.js';
import { startGrpcServer, type ControllerGrpcServer } from './grpc-server.js';
import { createControllerMetrics, type ControllerMetrics } from './metrics.js';

const CONTROLLER_ID = spiffeIdFor('cluster.local', 'ambit-system', 'ambit-controller');

const waypointConfig = (ns: string, hosts: string[] = []): WaypointConfig => ({
  namespace: ns,
  waypoint: 'waypoint',
  version: 'v',
  mesh: DEFAULT_MESH_CONFIG,
  virtualHosts: hosts.map((h) => ({ name: h, domains: [h], routes: [] })) as unknown as WaypointConfig['virtualHosts'],
  clusters: [],
  authorizationPolicies: [],
  requestAuthentications: [],
  peerAuthentications: [],
});

describe('discovery over gRPC + TLS', () => {
  let ca: CertificateAuthority;
  let serving: Credentials;
  let grpcServer: ControllerGrpcServer | undefined;
  let push: DiscoveryServer;
  let metrics: ControllerMetrics;
  let version = 0;
  const cleanups: Array<() => unknown> = [];

  const publish = (s: MeshSnapshot, waypoints: Array<[string, WaypointConfig]> = []) =>
    push.update(buildResourceSet({ snapshot: s, waypoints: new Map(waypoints) }), String(++version));

  const startServer = async (port = 0) => {
    grpcServer = await startGrpcServer({
      credentials: serving,
      host: '127.0.0.1',
      port,
      register: [(s) => push.register(s)],
    });
    return grpcServer.port;
  };
  const meshSource = (port: number, identity = CONTROLLER_ID) => {
    const src = new XdsMeshSource({
      address: `127.0.0.1:${port}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: identity,
      node: { name: 'node-a', role: 'agent' },
      backoff: { initialMs: 50, maxMs: 200 },
    });
    cleanups.push(() => src.stop());
    return src;
  };

  beforeAll(async () => {
    ca = await testCa();
    serving = await ca.issue(CONTROLLER_ID);
  });
  beforeEach(() => {
    metrics = createControllerMetrics({ defaultMetrics: false });
    push = new DiscoveryServer({ debounceMs: 30, metrics });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    push.close();
    await grpcServer?.close();
    grpcServer = undefined;
  });

  it('speaks delta: first answer per type, then only changed and removed resources, ACK/NACK by nonce', async () => {
    publish(snapshot({ workloads: [workload('a'), workload('b')] }));
    const port = await startServer();
    const Ctor = discoveryService();
    const client = new Ctor(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.rootsPem), null, null, { checkServerIdentity: () => undefined }),
      { 'grpc.ssl_target_name_override': 'ambit-controller' },
    );
    cleanups.push(() => client.close());
    const call = (
      client as unknown as { DeltaResources(): grpc.ClientDuplexStream<DeltaRequest, DeltaResponse> }
    ).DeltaResources();
    cleanups.push(() => call.cancel());
    const responses: DeltaResponse[] = [];
    call.on('data', (r: DeltaResponse) => responses.push(r));
    call.on('error', () => undefined);
    // the client already holds workload a at its current version: only b is sent
    const aVersion = encode(workload('a')).version;
    call.write({
      node: { name: 'node-a', role: 'agent', namespace: '', metadata: {} },
      typeUrl: TYPE_WORKLOAD,
      initialVersions: { 'Pod/shop/a': aVersion, 'Pod/shop/old': 'x' },
      responseNonce: '',
    });
    call.write({ typeUrl: TYPE_AUTHORIZATION_POLICY, initialVersions: {}, responseNonce: '' });
    await waitFor(() => responses.length === 2, 'initial answers');
    const wl = responses.find((r) => r.typeUrl === TYPE_WORKLOAD)!;
    expect(wl.resources.map((r) => r.name)).toEqual(['Pod/shop/b']);
    expect(wl.removedResources).toEqual(['Pod/shop/old']);
    expect(responses.find((r) => r.typeUrl === TYPE_AUTHORIZATION_POLICY)!.resources).toEqual([]);
    for (const r of responses) call.write({ typeUrl: r.typeUrl, initialVersions: {}, responseNonce: r.nonce });

    // a burst of updates is coalesced into one push holding only the difference
    publish(snapshot({ workloads: [workload('a'), workload('b')], authorizationPolicies: [denyPolicy('p1')] }));
    publish(snapshot({ workloads: [workload('a')], authorizationPolicies: [denyPolicy('p1')] }));
    publish(snapshot({ workloads: [workload('a')], authorizationPolicies: [denyPolicy('p2')] }));
    await waitFor(() => responses.length === 4, 'delta push');
    const [w2, p2] = [
      responses.slice(2).find((r) => r.typeUrl === TYPE_WORKLOAD)!,
      responses.slice(2).find((r) => r.typeUrl === TYPE_AUTHORIZATION_POLICY)!,
    ];
    expect(w2.resources).toEqual([]);
    expect(w2.removedResources).toEqual(['Pod/shop/b']);
    expect(p2.resources.map((r) => [r.name, JSON.parse(r.body).name])).toEqual([['shop/p2', 'p2']]);
    expect(p2.systemVersion).toBe(String(version));
    call.write({
      typeUrl: p2.typeUrl,
      initialVersions: {},
      responseNonce: p2.nonce,
      errorDetail: { message: 'cannot apply', resources: [{ name: 'shop/p2', message: 'bad' }] },
    });
    await waitFor(() => push.clients()[0]?.nacks === 1, 'nack recorded');
    expect(push.clients()[0]!.lastNack).toContain('cannot apply');
    expect(await metrics.registry.getSingleMetricAsString('ambit_nacks_total')).toContain(
      `ambit_nacks_total{type="${TYPE_AUTHORIZATION_POLICY}"} 1`,
    );
    expect(await metrics.registry.getSingleMetricAsString('ambit_connected_clients')).toContain('role="agent"} 1');
    // The client may have caught up on its ACK before the debounced flush that records the latency.
    let latency = '';
    for (let i = 0; i < 100 && !/_count 1\b/.test(latency); i++) {
      latency = await metrics.registry.getSingleMetricAsString('ambit_push_duration_seconds');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(latency).toMatch(/ambit_push_duration_seconds_count 1\b/);
  });

  it('delivers snapshots to an agent source, NACKs a malformed resource and keeps the rest', async () => {
    publish(snapshot({ authorizationPolicies: [denyPolicy('p1')] }));
    const port = await startServer();
    const got: MeshSnapshot[] = [];
    const src = meshSource(port);
    await src.start((s) => {
      got.push(s);
      return [];
    });
    await src.whenSynced();
    expect(got[0]!.authorizationPolicies.map((p) => p.name)).toEqual(['p1']);
    expect(got[0]!.workloads.map((w) => w.name)).toEqual(['web']);

    const broken = { ...workload('web'), ips: 'not-a-list' } as unknown as ReturnType<typeof workload>;
    publish(
      snapshot({ workloads: [broken, workload('api')], authorizationPolicies: [denyPolicy('p1'), denyPolicy('p2')] }),
    );
    await waitFor(() => got.at(-1)?.authorizationPolicies.length === 2, 'p2 applied');
    const last = got.at(-1)!;
    expect(last.workloads.map((w) => [w.name, w.ips])).toEqual([
      ['api', ['10.244.0.13']],
      ['web', ['10.244.0.13']],
    ]);
    await waitFor(() => push.clients()[0]?.nacks === 1, 'nack of the malformed workload');
    expect(push.clients()[0]!.lastNack).toMatch(/Pod\/shop\/web: field ips/);
    expect(src.status().nacks).toBe(1);
  });

  it('turns the problems the consumer reports into a NACK', async () => {
    publish(snapshot());
    const port = await startServer();
    const src = meshSource(port);
    let calls = 0;
    await src.start(() => (++calls === 1 ? [] : ['policy shop/p9 uses an unsupported field']));
    await src.whenSynced();
    publish(snapshot({ authorizationPolicies: [denyPolicy('p9')] }));
    await waitFor(() => push.clients()[0]?.nacks === 1, 'nack');
    expect(push.clients()[0]!.lastNack).toBe(`${TYPE_AUTHORIZATION_POLICY}: policy shop/p9 uses an unsupported field`);
    expect(src.status().acks).toBeGreaterThan(0);
  });

  it('keeps the last config while the controller is down and reconnects when it is back', async () => {
    publish(snapshot({ authorizationPolicies: [denyPolicy('p1')] }));
    const port = await startServer();
    const got: MeshSnapshot[] = [];
    const src = meshSource(port);
    await src.start((s) => {
      got.push(s);
      return [];
    });
    await src.whenSynced();
    push.close();
    await grpcServer!.close();
    await waitFor(() => !src.status().connected && src.status().reconnects > 0, 'client noticed');
    expect(got).toHaveLength(1);
    // a new controller on the same port, with a changed policy
    push = new DiscoveryServer({ debounceMs: 30 });
    publish(snapshot({ authorizationPolicies: [denyPolicy('p1', 'shop', ['cluster.local/ns/shop/sa/other'])] }));
    await startServer(port);
    await waitFor(() => got.length === 2, 'new snapshot after reconnect');
    expect(got[1]!.authorizationPolicies[0]!.rules[0]!.from![0]!.principals).toEqual([
      'cluster.local/ns/shop/sa/other',
    ]);
    expect(got[1]!.workloads.map((w) => w.name)).toEqual(['web']);
  });

  it('scopes WaypointConfig and GatewayConfig to the waypoint of that namespace', async () => {
    const gateway = (ns: string, name: string): GatewayConfig => ({
      key: `${ns}/${name}`,
      namespace: ns,
      name,
      selector: {},
      servers: [],
      virtualHosts: [],
      clusters: [],
    });
    push.update(
      buildResourceSet({
        snapshot: snapshot(),
        waypoints: new Map([
          ['shop', waypointConfig('shop', ['a.shop'])],
          ['other', waypointConfig('other')],
        ]),
        gateways: new Map([
          ['shop/ingress', gateway('shop', 'ingress')],
          ['other/ingress', gateway('other', 'ingress')],
        ]),
      }),
      String(++version),
    );
    const port = await startServer();
    const configs: Array<WaypointConfig | undefined> = [];
    const gateways: string[][] = [];
    const wp = new XdsWaypointSource({
      address: `127.0.0.1:${port}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: CONTROLLER_ID,
      node: { name: 'wp-0', role: 'waypoint', namespace: 'shop' },
    });
    cleanups.push(() => wp.stop());
    await wp.start((c, g) => {
      configs.push(c);
      gateways.push(g.map((x) => x.key));
      return [];
    });
    await wp.whenSynced();
    expect(configs[0]?.namespace).toBe('shop');
    expect(gateways[0]).toEqual(['shop/ingress']);
    expect(wp.status().resources[TYPE_WAYPOINT_CONFIG]).toBe(1);
    // an agent subscribing to WaypointConfig gets none
    const agent = new DiscoveryClient({
      address: `127.0.0.1:${port}`,
      rootsPem: ca.rootsPem,
      node: { name: 'node-a', role: 'agent' },
      types: [TYPE_WAYPOINT_CONFIG],
    });
    cleanups.push(() => agent.stop());
    agent.start(() => []);
    await agent.whenSynced();
    expect(agent.status().resources[TYPE_WAYPOINT_CONFIG]).toBe(0);
    publish(snapshot(), [
      ['shop', waypointConfig('shop', ['a.shop', 'b.shop'])],
      ['other', waypointConfig('other')],
    ]);
    await waitFor(() => configs.length === 2, 'updated waypoint config');
    expect(configs[1]!.virtualHosts).toHaveLength(2);
  });

  it("sends an agent only the policies of its node's namespaces and the root namespace", async () => {
    const meshWide = denyPolicy('mesh-wide', 'istio-system');
    publish(
      snapshot({ workloads: [workload('web', 'shop', 'node-a')], authorizationPolicies: [denyPolicy('p1'), meshWide] }),
    );
    const port = await startServer();
    const got: MeshSnapshot[] = [];
    const src = new XdsMeshSource({
      address: `127.0.0.1:${port}`,
      rootsPem: ca.rootsPem,
      node: { name: 'node-b', role: 'agent' },
    });
    cleanups.push(() => src.stop());
    await src.start((s) => {
      got.push(s);
      return [];
    });
    await src.whenSynced();
    expect(got.at(-1)!.authorizationPolicies.map((p) => p.key)).toEqual(['istio-system/mesh-wide']);
    expect(got.at(-1)!.workloads.map((w) => w.name)).toEqual(['web']); // every workload: any may be a destination
    // a pod of shop lands on node-b: shop's policy comes into scope
    publish(
      snapshot({
        workloads: [workload('web', 'shop', 'node-a'), workload('api', 'shop', 'node-b')],
        authorizationPolicies: [denyPolicy('p1'), meshWide],
      }),
    );
    await waitFor(() => got.at(-1)!.authorizationPolicies.length === 2, 'policy in scope');
    expect(got.at(-1)!.authorizationPolicies.map((p) => p.key)).toEqual(['istio-system/mesh-wide', 'shop/p1']);
    // and goes out of scope when it leaves
    publish(
      snapshot({ workloads: [workload('web', 'shop', 'node-a')], authorizationPolicies: [denyPolicy('p1'), meshWide] }),
    );
    await waitFor(() => got.at(-1)!.authorizationPolicies.length === 1, 'policy out of scope');
  });

  it('refuses a controller whose certificate lacks the expected identity', async () => {
    publish(snapshot());
    const port = await startServer();
    const src = meshSource(port, spiffeIdFor('cluster.local', 'ambit-system', 'impostor'));
    await src.start(() => []);
    await waitFor(() => src.status().reconnects > 0, 'failed connection');
    expect(src.status().synced).toBe(false);
    expect(src.status().lastError).toMatch(/UNAVAILABLE|certificate/);
  });
});
