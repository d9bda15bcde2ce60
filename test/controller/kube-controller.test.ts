// The controller in kube mode against the fake API server: informer-style list/watch feeding
// translate and push, a 410 relist flowing through to clients, and the CA authenticating
// callers with TokenReview.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { setLogSink } from '../../core/log.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { XdsMeshSource } from '../../core/xds/mesh-source.js';
import { Controller } from '../../controller/controller.js';
import { KubeSource } from '../../controller/sources/kube.js';
import { tokenReviewAuthenticator } from '../../controller/ca/auth.js';
import { kubeBoundObjectLookup, kubeTokenReviewer } from '../../controller/ca/kube.js';
import { FakeApiServer, STANDARD_RESOURCES, type FakeObject } from '../support/fake-apiserver.js';
import { waitFor } from '../support/wait.js';

const AGENT_TOKEN = 'agent-token-of-node-a';
const pod = (name: string, node: string, ip: string): FakeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels: { app: name } },
  spec: { serviceAccountName: name, nodeName: node, containers: [{ name, image: 'x' }] },
  status: { podIP: ip, phase: 'Running' },
});
const policy = (principal: string): FakeObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'deny-evil', namespace: 'shop' },
  spec: { action: 'DENY', rules: [{ from: [{ source: { principals: [principal] } }] }] },
});

describe('controller in kube mode (fake API server)', () => {
  let api: FakeApiServer;
  let ca: CertificateAuthority;
  let controller: Controller;
  let client: XdsMeshSource;
  let snapshots: MeshSnapshot[];

  const shopWorkloads = () => snapshots.at(-1)!.workloads.filter((w) => w.namespace === 'shop');
  const principals = () =>
    snapshots.at(-1)?.authorizationPolicies.find((p) => p.name === 'deny-evil')?.rules[0]?.from?.[0]?.principals?.[0];

  beforeAll(async () => {
    setLogSink({ write: () => true });
    ca = await CertificateAuthority.create();
  });
  afterAll(() => setLogSink(process.stderr));

  beforeEach(async () => {
    api = await FakeApiServer.start({ token: 'controller-token' });
    for (const r of STANDARD_RESOURCES) api.serve(r);
    api.serve({
      group: 'security.istio.io',
      versions: ['v1', 'v1beta1'],
      plural: 'authorizationpolicies',
      kind: 'AuthorizationPolicy',
      namespaced: true,
      crd: true,
    });
    // The agent's token is bound to its pod on node-a; the CA reads the pod to learn the node.
    const agentPod = api.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ambit-agent-a', namespace: 'ambit-system' },
      spec: { serviceAccountName: 'ambit-agent', nodeName: 'node-a', containers: [{ name: 'agent', image: 'x' }] },
      status: { podIP: '10.244.0.2', phase: 'Running' },
    });
    api.tokenReviews.set(AGENT_TOKEN, {
      username: 'system:serviceaccount:ambit-system:ambit-agent',
      extra: {
        'authentication.kubernetes.io/pod-name': ['ambit-agent-a'],
        'authentication.kubernetes.io/pod-uid': [String(agentPod.metadata.uid)],
        'authentication.kubernetes.io/node-name': ['node-a'],
      },
    });
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'mesh-mode': 'ambient' } } });
    api.create(pod('web', 'node-a', '10.244.0.5'));
    api.create(pod('remote', 'node-b', '10.244.1.5'));
    api.create(policy('cluster.local/ns/shop/sa/evil'));
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    const review = kubeTokenReviewer(kc, { audiences: ['ambit-ca'] });
    controller = await Controller.start({
      source: new KubeSource({
        kubeConfig: kc,
        timing: { initialBackoffMs: 20, maxBackoffMs: 200, absentRetryMs: 200 },
      }),
      ca,
      authenticate: tokenReviewAuthenticator({
        // The open-mode fake answers from a fixed table without status.audiences; the real API server reports them.
        reviewToken: async (t) => {
          const r = await review(t);
          return r.authenticated ? { ...r, audiences: r.audiences ?? ['ambit-ca'] } : r;
        },
        lookup: kubeBoundObjectLookup(kc),
        trustDomain: ca.trustDomain,
      }),
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      readyPort: 0,
      translateDebounceMs: 30,
      pushDebounceMs: 30,
    });
    snapshots = [];
    client = new XdsMeshSource({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: controller.identity,
      token: AGENT_TOKEN,
      node: { name: 'node-a', role: 'agent' },
    });
    await client.start((s) => {
      snapshots.push(s);
      return [];
    });
    await client.whenSynced();
  });
  afterEach(async () => {
    await client.stop();
    await controller.stop();
    await api.close();
  });

  it("serves the cluster's workloads and policies, and follows watch events and a 410 relist", async () => {
    expect(
      shopWorkloads()
        .map((w) => [w.name, w.node, w.ips[0]])
        .sort(),
    ).toEqual([
      ['remote', 'node-b', '10.244.1.5'],
      ['web', 'node-a', '10.244.0.5'],
    ]);
    expect(principals()).toBe('cluster.local/ns/shop/sa/evil');

    api.update(policy('cluster.local/ns/shop/sa/mallory'));
    await waitFor(() => principals() === 'cluster.local/ns/shop/sa/mallory', 'watched policy update');

    // the watch breaks, history is compacted meanwhile: the controller relists and pushes the difference
    api.dropWatches();
    api.delete('Pod', 'remote', 'shop');
    api.update(policy('cluster.local/ns/shop/sa/trudy'));
    api.compact();
    await waitFor(
      () => principals() === 'cluster.local/ns/shop/sa/trudy' && shopWorkloads().length === 1,
      'state after relist',
    );
    expect(shopWorkloads().map((w) => w.name)).toEqual(['web']);
  });

  it("signs for pods on the agent's node only, authenticating with TokenReview", async () => {
    const key = await generateWorkloadKey();
    const web = 'spiffe://cluster.local/ns/shop/sa/web';
    const remote = 'spiffe://cluster.local/ns/shop/sa/remote';
    const agent = createGrpcCaClient({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      token: AGENT_TOKEN,
      nodeName: 'node-a',
      serverIdentity: controller.identity,
    });
    const stranger = createGrpcCaClient({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      token: 'not-a-token',
      nodeName: 'node-a',
      serverIdentity: controller.identity,
    });
    try {
      expect(
        (await agent.sign({ csrPem: createCsr(web, key.privateKey), identity: web, ttlSeconds: 600 })).certChainPem,
      ).toContain('BEGIN CERTIFICATE');
      await expect(
        agent.sign({ csrPem: createCsr(remote, key.privateKey), identity: remote, ttlSeconds: 600 }),
      ).rejects.toThrow(/may not obtain/);
      await expect(
        stranger.sign({ csrPem: createCsr(web, key.privateKey), identity: web, ttlSeconds: 600 }),
      ).rejects.toThrow(/token refused/);
      // one review for the discovery stream opened in beforeEach (the accepted token is then
      // remembered), one for the stranger's token
      expect(api.requests.filter((r) => r.includes('tokenreviews'))).toHaveLength(2);
      expect(api.requests.filter((r) => r.includes('/pods/ambit-agent-a'))).toHaveLength(1);
    } finally {
      agent.close();
      stranger.close();
    }
  });
});
