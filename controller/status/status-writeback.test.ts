// Gateway API status written back through the test API server's status subresource, with
// the objects coming from the real kube source (list + watch), as the controller runs it:
// waypoint Gateway conditions and addresses, route parents' Accepted and ResolvedRefs with
// their reasons, others' parent entries kept, transitions timed, and no write loop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { setLogSink } from '../../core/log.js';
import { KubeSource } from '../sources/kube.js';
import { WATCHED_KINDS } from '../sources/kube-kinds.js';
import type { KubeObject } from '../sources/types.js';
import { FakeApiServer, type FakeObject } from '../../test/support/fake-apiserver.js';
import { waitFor } from '../../test/support/wait.js';
import { restStatusClient } from './kube-status-client.js';
import { GATEWAY_CONTROLLER, MESH_CONTROLLER } from './desired.js';
import { StatusWriter } from './writer.js';

const GW_API = 'gateway.networking.k8s.io/v1';
const GROUP = 'gateway.networking.k8s.io';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}
interface Parent {
  parentRef: Record<string, unknown>;
  controllerName: string;
  conditions: Cond[];
}

describe('Gateway API status write-back (test API server, kube source)', () => {
  let api: FakeApiServer;
  let source: KubeSource;
  let writer: StatusWriter;
  const store = new Map<string, KubeObject>();
  let events = 0;
  /** Writes the server saw per object (MODIFIED events of the gateway.networking.k8s.io kinds). */
  const modified = new Map<string, number>();

  const route = (kind: string, name: string): { status?: { parents?: Parent[] }; metadata: FakeObject['metadata'] } =>
    api.getObject(kind, name, 'shop', GROUP) as never;
  const parents = (kind: string, name: string): Parent[] => route(kind, name)?.status?.parents ?? [];
  const cond = (p: Parent | undefined, type: string): Cond | undefined => p?.conditions.find((c) => c.type === type);
  const ours = (kind: string, name: string): Parent | undefined =>
    parents(kind, name).find((p) => p.controllerName === MESH_CONTROLLER);

  beforeAll(async () => {
    setLogSink({ write: () => true });
    api = await FakeApiServer.start();
    api.serveStandard();
    for (const k of WATCHED_KINDS)
      if (!api.serves(k.kind, k.group))
        api.serve({
          group: k.group,
          versions: [...k.versions],
          plural: k.plural,
          kind: k.kind,
          namespaced: k.kind !== 'Namespace' && k.kind !== 'Node',
          crd: true,
        });
    api.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { 'istio.io/use-waypoint': 'waypoint' } },
    });
    const service = (name: string): FakeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'shop' },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 9080 }] },
    });
    api.create(service('reviews'));
    api.create(service('ratings'));
    api.create({
      apiVersion: GW_API,
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'shop' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    api.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'waypoint-1',
        namespace: 'shop',
        labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
      },
      spec: { containers: [{ name: 'w', image: 'x' }] },
      status: { phase: 'Running', podIP: '10.244.0.50' },
    });
    // Backends: reviews exists, v2 does not (yet). Another controller already reported on its own parent.
    api.create({
      apiVersion: GW_API,
      kind: 'HTTPRoute',
      metadata: { name: 'split', namespace: 'shop' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
        rules: [
          {
            backendRefs: [
              { name: 'reviews', port: 9080, weight: 90 },
              { name: 'reviews-v2', port: 9080, weight: 10 },
            ],
          },
        ],
      },
    });
    const foreign = { parentRef: { name: 'other-gw' }, controllerName: 'example.com/other', conditions: [] };
    api.update({
      ...(api.getObject('HTTPRoute', 'split', 'shop', GROUP) as FakeObject),
      status: { parents: [foreign] },
    });
    api.create({
      apiVersion: GW_API,
      kind: 'GRPCRoute',
      metadata: { name: 'rpc', namespace: 'shop' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'nope' }],
        rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }] }],
      },
    });
    api.onChange((type, o) => {
      if (type === 'MODIFIED' && o.apiVersion?.startsWith(GROUP)) {
        const key = `${o.kind}/${o.metadata.name}`;
        modified.set(key, (modified.get(key) ?? 0) + 1);
      }
    });

    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    writer = new StatusWriter({ client: restStatusClient(kc), retryMs: 200 });
    source = new KubeSource({ kubeConfig: kc });
    // As the controller: objects are acted on once the initial lists are all in (SYNCED).
    let synced = false;
    await source.start((e) => {
      if (e.type === 'SYNCED') {
        synced = true;
        writer.update([...store.values()]);
      }
      if (e.type === 'SYNCED' || e.type === 'ERROR') return;
      const key = `${e.object.apiVersion.split('/')[0]}|${e.object.kind}/${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`;
      if (e.type === 'DELETED') store.delete(key);
      else store.set(key, e.object);
      events++;
      if (synced) writer.update([...store.values()]);
    });
  }, 60_000);

  afterAll(async () => {
    writer?.close();
    await source?.stop();
    await api?.close();
  });

  it('a waypoint Gateway: Accepted, Programmed with its running pods as addresses', async () => {
    const gw = await waitFor(
      () => {
        const o = api.getObject('Gateway', 'waypoint', 'shop', GROUP) as {
          status?: { conditions?: Cond[]; addresses?: unknown[] };
        };
        return o.status?.conditions ? o.status : undefined;
      },
      'the Gateway status',
      20_000,
    );
    expect(gw.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'True', 'Accepted'],
      ['Programmed', 'True', 'Programmed'],
    ]);
    expect(
      gw.conditions?.every((c) => c.observedGeneration === 1 && !Number.isNaN(Date.parse(c.lastTransitionTime))),
    ).toBe(true);
    expect(gw.addresses).toEqual([{ type: 'IPAddress', value: '10.244.0.50' }]);
  });

  it("an HTTPRoute on a Service with a waypoint: Accepted; a missing backend is BackendNotFound; others' parents kept", async () => {
    const p = await waitFor(() => ours('HTTPRoute', 'split'), 'the HTTPRoute status', 20_000);
    expect(p.parentRef).toEqual({ group: '', kind: 'Service', name: 'reviews', port: 9080 });
    expect(cond(p, 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(cond(p, 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'BackendNotFound' });
    expect(cond(p, 'ResolvedRefs')?.message).toContain('shop/reviews-v2');
    expect(parents('HTTPRoute', 'split').map((x) => x.controllerName)).toEqual(['example.com/other', MESH_CONTROLLER]);
  });

  it('a GRPCRoute whose parent Service does not exist: NoMatchingParent; an HTTP/1 backend port: UnsupportedProtocol', async () => {
    const p = await waitFor(() => ours('GRPCRoute', 'rpc'), 'the GRPCRoute status', 20_000);
    expect(cond(p, 'Accepted')).toMatchObject({ status: 'False', reason: 'NoMatchingParent' });
    expect(cond(p, 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'UnsupportedProtocol' });
    expect(cond(p, 'ResolvedRefs')?.message).toContain('shop/ratings');
  });

  it('writes only when the status changes: no write loop through its own watch events', async () => {
    await writer.idle();
    // A change that concerns no status: every object is recomputed, nothing is written.
    const writes = writer.writes;
    const before = new Map(modified);
    const seen = events;
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'unrelated', namespace: 'shop' },
      spec: { ports: [{ port: 1 }] },
    });
    await waitFor(() => events > seen, 'the unrelated change to arrive');
    await writer.idle();
    writer.update([...store.values()]);
    await writer.idle();
    expect(writer.writes).toBe(writes);
    expect(modified).toEqual(before);
    // Each object was written once, for the one status it reached.
    expect(before.get('Gateway/waypoint')).toBe(1);
    expect(before.get('HTTPRoute/split')).toBe(1);
    expect(before.get('GRPCRoute/rpc')).toBe(1);
  });

  it('a fixed backend turns ResolvedRefs True; Accepted keeps its transition time; a spec change moves observedGeneration', async () => {
    const accepted = cond(ours('HTTPRoute', 'split'), 'Accepted')!;
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'reviews-v2', namespace: 'shop' },
      spec: { ports: [{ port: 9080 }] },
    });
    const p = await waitFor(
      () => {
        const x = ours('HTTPRoute', 'split');
        return cond(x, 'ResolvedRefs')?.status === 'True' ? x : undefined;
      },
      'ResolvedRefs True',
      20_000,
    );
    expect(cond(p, 'Accepted')?.lastTransitionTime).toBe(accepted.lastTransitionTime);
    expect(cond(p, 'ResolvedRefs')?.reason).toBe('ResolvedRefs');

    // The route's spec changes (generation 2): the status follows with the new observedGeneration.
    const current = api.getObject('HTTPRoute', 'split', 'shop', GROUP) as FakeObject & { spec: { rules: unknown[] } };
    api.update({ ...current, spec: { ...current.spec, rules: [{ backendRefs: [{ name: 'ratings', port: 9080 }] }] } });
    await waitFor(
      () => cond(ours('HTTPRoute', 'split'), 'Accepted')?.observedGeneration === 2,
      'observedGeneration 2',
      20_000,
    );
  });

  it('a backend in another namespace without a ReferenceGrant: RefNotPermitted; with one: resolved', async () => {
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'audit' } });
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'log', namespace: 'audit' },
      spec: { ports: [{ port: 80 }] },
    });
    api.create({
      apiVersion: GW_API,
      kind: 'HTTPRoute',
      metadata: { name: 'cross', namespace: 'shop' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
        rules: [{ backendRefs: [{ name: 'log', namespace: 'audit', port: 80 }] }],
      },
    });
    const refs = (): Cond | undefined => cond(ours('HTTPRoute', 'cross'), 'ResolvedRefs');
    await waitFor(() => refs()?.reason === 'RefNotPermitted', 'RefNotPermitted', 20_000);
    api.create({
      apiVersion: 'gateway.networking.k8s.io/v1beta1',
      kind: 'ReferenceGrant',
      metadata: { name: 'from-shop', namespace: 'audit' },
      spec: { from: [{ group: GROUP, kind: 'HTTPRoute', namespace: 'shop' }], to: [{ group: '', kind: 'Service' }] },
    });
    await waitFor(() => refs()?.status === 'True', 'ResolvedRefs True after the grant', 20_000);
  });

  it('a route to an ingress Gateway is reported by the gateway controller; to a missing listener, NoMatchingParent', async () => {
    api.create({
      apiVersion: GW_API,
      kind: 'Gateway',
      metadata: { name: 'ingress', namespace: 'shop' },
      spec: { gatewayClassName: 'ambit', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    });
    api.create({
      apiVersion: GW_API,
      kind: 'HTTPRoute',
      metadata: { name: 'edge', namespace: 'shop' },
      spec: {
        parentRefs: [{ name: 'ingress' }, { name: 'ingress', sectionName: 'https' }],
        rules: [{ backendRefs: [{ name: 'reviews', port: 9080 }] }],
      },
    });
    const list = await waitFor(
      () => {
        // The route may be seen before its Gateway (NoMatchingParent for both): wait for the final answer.
        const l = parents('HTTPRoute', 'edge');
        return l.length === 2 && cond(l[0], 'Accepted')?.status === 'True' ? l : undefined;
      },
      'the edge route status',
      20_000,
    );
    expect(list.map((p) => [p.controllerName, cond(p, 'Accepted')?.status, cond(p, 'Accepted')?.reason])).toEqual([
      [GATEWAY_CONTROLLER, 'True', 'Accepted'],
      [GATEWAY_CONTROLLER, 'False', 'NoMatchingParent'],
    ]);
    // The ingress Gateway's own status is not Ambit's to write here (waypoint Gateways only).
    expect((api.getObject('Gateway', 'ingress', 'shop', GROUP) as { status?: unknown }).status).toBeUndefined();
  });
});

describe('the test API server keeps status and spec apart as the real one does', () => {
  it('a status sent to the main resource is ignored; a spec sent to /status is ignored; generation counts spec changes', async () => {
    const api = await FakeApiServer.start();
    try {
      api.serve({
        group: GROUP,
        versions: ['v1'],
        plural: 'httproutes',
        kind: 'HTTPRoute',
        namespaced: true,
        crd: true,
      });
      api.create({
        apiVersion: GW_API,
        kind: 'HTTPRoute',
        metadata: { name: 'r', namespace: 'a' },
        spec: { x: 1 },
        status: { s: 1 },
      });
      const base = `${api.url}/apis/${GW_API}/namespaces/a/httproutes/r`;
      const kc = new KubeConfig();
      kc.loadFromString(api.kubeconfig());
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const user = kc.getCurrentUser();
      if (user?.token) headers.authorization = `Bearer ${user.token}`;
      else if (user?.username)
        headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
      const put = async (path: string, body: unknown): Promise<number> =>
        (await fetch(base + path, { method: 'PUT', headers, body: JSON.stringify(body) })).status;
      const get = (): FakeObject & { spec: unknown; status: unknown } =>
        api.getObject('HTTPRoute', 'r', 'a', GROUP) as never;
      expect(get().metadata).toMatchObject({ generation: 1 });

      expect(await put('', { ...get(), spec: { x: 2 }, status: { s: 2 } })).toBe(200);
      expect(get()).toMatchObject({ spec: { x: 2 }, status: { s: 1 }, metadata: { generation: 2 } });

      expect(await put('/status', { ...get(), spec: { x: 3 }, status: { s: 3 } })).toBe(200);
      expect(get()).toMatchObject({ spec: { x: 2 }, status: { s: 3 }, metadata: { generation: 2 } });

      // A stale resourceVersion is a conflict on /status too.
      expect(
        await put('/status', { ...get(), metadata: { ...get().metadata, resourceVersion: '1' }, status: { s: 4 } }),
      ).toBe(409);
    } finally {
      await api.close();
    }
  });
});
