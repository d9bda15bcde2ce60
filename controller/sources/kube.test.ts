import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer, STANDARD_RESOURCES, type ServedResource } from '../../test/support/fake-apiserver.js';
import { waitFor } from '../../test/support/wait.js';
import { KubeSource } from './kube.js';
import type { SourceEvent } from './types.js';
import { WATCHED_KINDS } from './kube-kinds.js';

const AUTHZ: ServedResource = {
  group: 'security.istio.io',
  versions: ['v1', 'v1beta1'],
  plural: 'authorizationpolicies',
  kind: 'AuthorizationPolicy',
  namespaced: true,
  crd: true,
};
const VS_BETA: ServedResource = {
  group: 'networking.istio.io',
  versions: ['v1beta1'],
  plural: 'virtualservices',
  kind: 'VirtualService',
  namespaced: true,
  crd: true,
};

const pod = (name: string, ns = 'shop', extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { serviceAccountName: name, nodeName: 'node-a' },
  status: { podIP: '10.244.0.9' },
  ...extra,
});

describe('KubeSource against the fake API server', () => {
  let api: FakeApiServer;
  let source: KubeSource;
  let events: SourceEvent[];

  const names = (type: string, kind: string) =>
    events
      .filter((e) => e.type === type && 'object' in e && e.object.kind === kind)
      .map((e) => ('object' in e ? e.object.metadata.name : ''));
  const start = async (timing = {}) => {
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    source = new KubeSource({
      kubeConfig: kc,
      timing: { initialBackoffMs: 20, maxBackoffMs: 200, absentRetryMs: 100, ...timing },
    });
    await source.start((e) => events.push(e));
    await waitFor(() => events.some((e) => e.type === 'SYNCED'), 'SYNCED');
  };
  const reflectorOf = (kind: string) => source.stats().find((s) => s.kind === kind)!;

  beforeEach(async () => {
    api = await FakeApiServer.start({ token: 'sekret' });
    for (const r of STANDARD_RESOURCES) api.serve(r);
    api.serve(AUTHZ);
    events = [];
  });
  afterEach(async () => {
    await source?.stop();
    await api.close();
  });

  it('lists every kind with kind/apiVersion filled in, then SYNCED once, skipping absent CRDs', async () => {
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'mesh-mode': 'ambient' } } });
    api.create(pod('web'));
    api.create({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'deny', namespace: 'shop' },
      spec: {},
    });
    await start();
    const synced = events.findIndex((e) => e.type === 'SYNCED');
    const before = events.slice(0, synced);
    expect(
      before
        .map((e) => ('object' in e ? `${e.object.apiVersion} ${e.object.kind} ${e.object.metadata.name}` : e.type))
        .sort(),
    ).toEqual(['security.istio.io/v1 AuthorizationPolicy deny', 'v1 Namespace shop', 'v1 Pod web']);
    expect(events.filter((e) => e.type === 'SYNCED')).toHaveLength(1);
    // every list carried the bearer token (the server answers 401 otherwise) and absent CRDs were tried in each version
    expect(api.requests).toContain('/apis/networking.istio.io/v1alpha3/virtualservices');
    expect(reflectorOf('VirtualService').version).toBeUndefined();
    expect(source.stats()).toHaveLength(WATCHED_KINDS.length);
  });

  it('streams watch events and follows a watch that drops mid-stream without relisting', async () => {
    await start();
    api.create(pod('a'));
    await waitFor(() => names('ADDED', 'Pod').includes('a'), 'pod a');
    const listsBefore = reflectorOf('Pod').lists;
    api.dropWatches();
    // changes while the watch is down are replayed from the last resourceVersion
    api.create(pod('b'));
    api.update(pod('a', 'shop', { status: { podIP: '10.244.0.10' } }));
    api.delete('Pod', 'b', 'shop');
    await waitFor(() => names('DELETED', 'Pod').includes('b'), 'pod b deleted');
    expect(names('ADDED', 'Pod')).toEqual(['a', 'b']);
    const modified = events.find((e) => e.type === 'MODIFIED' && 'object' in e && e.object.metadata.name === 'a');
    expect(modified && 'object' in modified ? (modified.object.status as { podIP: string }).podIP : undefined).toBe(
      '10.244.0.10',
    );
    expect(reflectorOf('Pod').lists).toBe(listsBefore);
    expect(reflectorOf('Pod').errors).toBeGreaterThan(0);
  });

  for (const mode of ['event', 'status'] as const) {
    it(`relists on 410 Gone (${mode}) and emits what changed while away`, async () => {
      api.expiredAs = mode;
      api.create(pod('keep'));
      api.create(pod('gone'));
      await start();
      api.dropWatches();
      api.delete('Pod', 'gone', 'shop');
      api.create(pod('new'));
      api.compact();
      await waitFor(() => names('ADDED', 'Pod').includes('new'), 'pod new after relist');
      await waitFor(() => names('DELETED', 'Pod').includes('gone'), 'pod gone deleted after relist');
      expect(reflectorOf('Pod').gone).toBeGreaterThan(0);
      expect(reflectorOf('Pod').lists).toBeGreaterThanOrEqual(2);
      // the kept pod did not change: no event for it after the relist
      expect(events.filter((e) => 'object' in e && e.object.metadata.name === 'keep')).toHaveLength(1);
    });
  }

  it('resumes from the resourceVersion of the last bookmark', async () => {
    await start();
    api.bumpResourceVersion(50);
    const rv = api.resourceVersion;
    api.bookmark();
    await waitFor(() => reflectorOf('Pod').bookmarks > 0, 'bookmark seen');
    api.dropWatches();
    await waitFor(
      () => api.requests.some((r) => r.startsWith('/api/v1/pods?') && r.includes(`resourceVersion=${rv}&`)),
      'watch from bookmark rv',
    );
    expect(api.requests.find((r) => r.startsWith('/api/v1/pods?watch'))).toContain('allowWatchBookmarks=true');
  });

  it('picks up a CRD installed later, in the version the cluster serves', async () => {
    await start();
    expect(reflectorOf('VirtualService').version).toBeUndefined();
    api.serve(VS_BETA);
    api.create({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name: 'reviews', namespace: 'shop' },
      spec: { hosts: ['reviews'] },
    });
    await waitFor(() => names('ADDED', 'VirtualService').includes('reviews'), 'virtual service');
    const ev = events.find((e) => 'object' in e && e.object.kind === 'VirtualService');
    expect(ev && 'object' in ev ? ev.object.apiVersion : '').toBe('networking.istio.io/v1beta1');
  });

  it('skips a custom resource it may not read (403) instead of never becoming synced', async () => {
    api.failNext('/apis/security.istio.io/v1/authorizationpolicies', 403);
    api.failNext('/apis/security.istio.io/v1beta1/authorizationpolicies', 403);
    api.create(pod('p'));
    await start();
    expect(names('ADDED', 'Pod')).toEqual(['p']);
    expect(reflectorOf('AuthorizationPolicy').version).toBeUndefined();
    // looked for again later, and then read
    api.create({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'late', namespace: 'shop' },
      spec: {},
    });
    await waitFor(() => names('ADDED', 'AuthorizationPolicy').includes('late'), 'policy after retry');
  });

  it('backs off and recovers from server errors', async () => {
    api.failNext('/api/v1/pods', 500, 3);
    api.create(pod('late'));
    await start();
    expect(names('ADDED', 'Pod')).toEqual(['late']);
    expect(reflectorOf('Pod').errors).toBe(3);
  });
});
