// Scoping and on-demand discovery end to end: the real controller (in-memory object source →
// incremental translate → push over gRPC + TLS), a discovery client in on-demand mode as the
// agent runs it, and the agent's outbound lookup path (MeshState + routeOnDemand).
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../core/identity/ca.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { XdsMeshSource } from '../../core/xds/mesh-source.js';
import { DiscoveryClient } from '../../core/xds/client.js';
import { AGENT_TYPES } from '../../core/xds/resources.js';
import { Controller } from '../../controller/controller.js';
import type { KubeObject, ObjectSource, SourceEvent } from '../../controller/sources/types.js';
import { MeshState, routeOnDemand } from '../../agent/state/mesh-state.js';
import { waitFor } from '../support/wait.js';

class MemorySource implements ObjectSource {
  private emit: ((ev: SourceEvent) => void) | undefined;
  constructor(private readonly initial: readonly KubeObject[]) {}
  async start(onEvent: (ev: SourceEvent) => void): Promise<void> {
    this.emit = onEvent;
    for (const object of this.initial) onEvent({ type: 'ADDED', object });
    onEvent({ type: 'SYNCED' });
  }
  put(object: KubeObject): void {
    this.emit?.({ type: 'MODIFIED', object });
  }
  async stop(): Promise<void> {
    this.emit = undefined;
  }
}

const ns = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'mesh-mode': 'ambient' } },
});
const pod = (namespace: string, name: string, app: string, node: string, ip: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels: { app } },
  spec: { nodeName: node, serviceAccountName: app, containers: [{ name: 'c' }] },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});
const service = (namespace: string, name: string, app: string, clusterIP: string, exportTo?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace, ...(exportTo ? { annotations: { 'networking.istio.io/exportTo': exportTo } } : {}) },
  spec: { selector: { app }, clusterIP, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
});
const deny = (namespace: string): KubeObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'deny', namespace },
  spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['legacy'] } }] }] },
});

// node-a runs shop/web only. shop/api runs elsewhere; other/db is exported to its own
// namespace only; other/pub is exported everywhere but shop's Sidecar only lets shop see shop.
const MESH: KubeObject[] = [
  ns('shop'),
  ns('other'),
  ns('free'),
  pod('shop', 'web', 'web', 'node-a', '10.244.1.1'),
  pod('shop', 'api-0', 'api', 'node-b', '10.244.2.1'),
  pod('shop', 'api-1', 'api', 'node-c', '10.244.3.1'),
  pod('other', 'db-0', 'db', 'node-b', '10.244.2.2'),
  pod('other', 'pub-0', 'pub', 'node-b', '10.244.2.3'),
  pod('free', 'free-0', 'free', 'node-c', '10.244.3.2'),
  service('shop', 'api', 'api', '10.96.0.10'),
  service('other', 'db', 'db', '10.96.0.11', '.'),
  service('other', 'pub', 'pub', '10.96.0.12'),
  service('free', 'free', 'free', '10.96.0.13'),
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Sidecar',
    metadata: { name: 'default', namespace: 'shop' },
    spec: { egress: [{ hosts: ['./*', 'free/*'] }] },
  },
  deny('shop'),
  deny('other'),
];

describe('scoping and on-demand discovery (controller → on-demand client → agent lookup)', () => {
  const stops: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s();
  });

  async function start(): Promise<{ source: MemorySource; controller: Controller; ca: CertificateAuthority }> {
    const ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
    const source = new MemorySource(MESH);
    const controller = await Controller.start({
      source,
      ca,
      authenticate: async () => {
        throw new Error('no CA requests in this test');
      },
      discoveryAuth: false,
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      readyPort: 0,
      translateDebounceMs: 10,
      pushDebounceMs: 10,
    });
    stops.push(() => controller.stop());
    await waitFor(() => controller.isReady(), 'controller ready');
    return { source, controller, ca };
  }

  async function agent(controller: Controller, ca: CertificateAuthority, node: string) {
    const snapshots: MeshSnapshot[] = [];
    let state = new MeshState({
      version: '',
      mesh: controller.current!.snapshot.mesh,
      workloads: [],
      services: [],
      authorizationPolicies: [],
      peerAuthentications: [],
    });
    const src = new XdsMeshSource({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: controller.identity,
      node: { name: node, role: 'agent' },
      onDemand: true,
      backoff: { initialMs: 50, maxMs: 300 },
    });
    stops.push(() => src.stop());
    await src.start((s) => {
      snapshots.push(s);
      state = new MeshState(s);
      return [];
    });
    await src.whenSynced();
    return { src, snapshots, state: () => state, last: () => snapshots.at(-1)! };
  }

  it("an agent holds its node's workloads, its namespaces' policies, the destinations it looked up", async () => {
    const { source, controller, ca } = await start();
    const a = await agent(controller, ca, 'node-a');
    // What it must not receive: other nodes' workloads, services it did not ask for, other namespaces' policies.
    expect(a.last().workloads.map((w) => w.uid)).toEqual(['Pod/shop/web']);
    expect(a.last().services).toEqual([]);
    expect(a.last().authorizationPolicies.map((p) => p.key)).toEqual(['shop/deny']);
    expect(a.last().namespaces?.map((n) => n.name)).toEqual(['free', 'other', 'shop']);

    // The first connection to shop/api's VIP waits for the lookup, then goes over HBONE to an endpoint.
    const first = await routeOnDemand(a.state, (x) => a.src.lookup!(x), { namespace: 'shop' }, '10.96.0.10', 80);
    expect(first.kind).toBe('hbone');
    expect(first.kind === 'hbone' && ['10.244.2.1', '10.244.3.1'].includes(first.address)).toBe(true);
    expect(first.kind === 'hbone' && first.identity).toBe('spiffe://cluster.local/ns/shop/sa/api');
    expect(a.last().services.map((s) => s.key)).toEqual(['shop/api.shop.svc.cluster.local']);
    expect(a.last().workloads.map((w) => w.uid)).toEqual(['Pod/shop/api-0', 'Pod/shop/api-1', 'Pod/shop/web']);

    // exportTo '.' of another namespace, and a service the namespace's Sidecar does not list: never sent.
    for (const vip of ['10.96.0.11', '10.96.0.12']) {
      const d = await routeOnDemand(a.state, (x) => a.src.lookup!(x), { namespace: 'shop' }, vip, 80);
      expect(d.kind).toBe('passthrough');
    }
    // A service the Sidecar lets shop see, looked up by hostname.
    await a.src.lookup!('free.free.svc.cluster.local');
    expect(a.last().services.map((s) => s.name)).toEqual(['free', 'api']);
    const sent = JSON.stringify(a.snapshots);
    expect(sent).not.toContain('other/db');
    expect(sent).not.toContain('pub.other');
    expect(sent).not.toContain('other/deny');

    // A one-pod change reaches the agent that holds the service; an unrelated one does not.
    const before = a.snapshots.length;
    source.put(pod('shop', 'api-2', 'api', 'node-d', '10.244.4.1'));
    await waitFor(() => a.last().services.find((s) => s.name === 'api')?.endpoints.length === 3, 'new endpoint pushed');
    expect(a.last().workloads.map((w) => w.uid)).toContain('Pod/shop/api-2');
    const after = a.snapshots.length;
    expect(after).toBeGreaterThan(before);
    source.put(pod('other', 'db-1', 'db', 'node-b', '10.244.2.9'));
    await waitFor(() => controller.current?.snapshot.workloads.some((w) => w.uid === 'Pod/other/db-1'), 'translated');
    await new Promise((r) => setTimeout(r, 200));
    expect(a.snapshots.length).toBe(after);
    expect(JSON.stringify(a.last())).not.toContain('db-1');
  });

  it('a lookup waits for the controller but never fails: unreachable, it resolves after its timeout', async () => {
    const ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
    const client = new DiscoveryClient({
      address: '127.0.0.1:1',
      rootsPem: ca.rootsPem,
      node: { name: 'node-a', role: 'agent' },
      types: AGENT_TYPES,
      lookupTimeoutMs: 150,
      backoff: { initialMs: 50, maxMs: 100 },
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => undefined } as never,
    });
    client.start(() => []);
    stops.push(() => client.stop());
    const t0 = Date.now();
    await expect(client.lookup('10.96.0.10')).resolves.toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
  });
});
