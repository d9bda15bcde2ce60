// The controller's CA and discovery admission in kube mode against the test API server in
// RBAC mode, with service-account tokens it mints and reviews as the real one does
// (audiences, pod-bound extras): an agent is trusted for the node its pod runs on, nothing
// else, whatever node it names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { setLogSink } from '../../core/log.js';
import { XdsMeshSource } from '../../core/xds/mesh-source.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { Controller } from '../controller.js';
import { KubeSource } from '../sources/kube.js';
import { kubeCaAuthenticator } from './kube.js';
import { FakeApiServer, type FakeObject } from '../../test/support/fake-apiserver.js';
import { waitFor } from '../../test/support/wait.js';

const TD = 'cluster.local';
const id = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;
const pod = (ns: string, name: string, sa: string, node: string, ip: string): FakeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { serviceAccountName: sa, nodeName: node, containers: [{ name: 'c', image: 'x' }] },
  status: { phase: 'Running', podIP: ip },
});

describe('CA node authorizer against the API server (RBAC mode, minted tokens)', () => {
  let api: FakeApiServer;
  let ca: CertificateAuthority;
  let controller: Controller;
  const tokens: Record<string, string> = {};
  const clients: Array<{ close(): void }> = [];

  beforeAll(async () => {
    setLogSink({ write: () => true });
    api = await FakeApiServer.start({ rbac: true });
    api.serveStandard();
    for (const n of ['node-a', 'node-b']) api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
    for (const ns of ['ambit-system', 'shop'])
      api.create({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, labels: ns === 'shop' ? { 'mesh-mode': 'ambient' } : {} },
      });
    for (const [ns, sa] of [
      ['ambit-system', 'ambit-agent'],
      ['shop', 'web'],
      ['shop', 'db'],
    ] as const) {
      api.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } });
    }
    api.create(pod('ambit-system', 'ambit-agent-a', 'ambit-agent', 'node-a', '10.0.0.2'));
    api.create(pod('ambit-system', 'ambit-agent-b', 'ambit-agent', 'node-b', '10.0.1.2'));
    api.create(pod('shop', 'web-1', 'web', 'node-a', '10.244.0.5'));
    api.create(pod('shop', 'db-1', 'db', 'node-b', '10.244.1.5'));
    const agent = { namespace: 'ambit-system', serviceAccount: 'ambit-agent' };
    tokens.agentA = api.mintToken({ ...agent, pod: 'ambit-agent-a', audiences: ['ambit-ca'] });
    tokens.agentB = api.mintToken({ ...agent, pod: 'ambit-agent-b', audiences: ['ambit-ca'] });
    tokens.agentAClaimingB = api.mintToken({ ...agent, pod: 'ambit-agent-a', node: 'node-b', audiences: ['ambit-ca'] });
    tokens.agentUnbound = api.mintToken({ ...agent, audiences: ['ambit-ca'] });
    tokens.agentApiAudience = api.mintToken({ ...agent, pod: 'ambit-agent-a' });
    tokens.web = api.mintToken({ namespace: 'shop', serviceAccount: 'web', pod: 'web-1', audiences: ['ambit-ca'] });

    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    ca = await CertificateAuthority.create({ trustDomain: TD });
    controller = await Controller.start({
      source: new KubeSource({
        kubeConfig: kc,
        timing: { initialBackoffMs: 20, maxBackoffMs: 200, absentRetryMs: 200 },
      }),
      ca,
      authenticate: kubeCaAuthenticator(kc, { trustDomain: TD }),
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      readyPort: 0,
      translateDebounceMs: 20,
      pushDebounceMs: 20,
    });
    await waitFor(() => controller.isReady(), 'controller synced');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await controller?.stop();
    await api?.close();
    setLogSink(process.stderr);
  });

  async function sign(token: string, identity: string, nodeName?: string): Promise<string> {
    const c = createGrpcCaClient({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      token,
      serverIdentity: controller.identity,
      ...(nodeName ? { nodeName } : {}),
    });
    clients.push(c);
    const key = await generateWorkloadKey();
    return (await c.sign({ csrPem: createCsr(identity, key.privateKey), identity, ttlSeconds: 600 })).certChainPem;
  }

  it("signs for a pod on the agent's own node", async () => {
    expect(await sign(tokens.agentA!, id('shop', 'web'))).toContain('BEGIN CERTIFICATE');
    expect(await sign(tokens.agentB!, id('shop', 'db'))).toContain('BEGIN CERTIFICATE');
  });

  it("refuses node-a's agent a pod that runs only on node-b, even when it names node-b", async () => {
    await expect(sign(tokens.agentA!, id('shop', 'db'), 'node-b')).rejects.toThrow(
      `PERMISSION_DENIED: node node-a may not obtain certificates for ${id('shop', 'db')}`,
    );
  });

  it("refuses a token claiming another node than its pod's", async () => {
    await expect(sign(tokens.agentAClaimingB!, id('shop', 'db'), 'node-b')).rejects.toThrow(
      /UNAUTHENTICATED: token refused: agent ambit-system\/ambit-agent: the token names node node-b, but pod ambit-system\/ambit-agent-a runs on node-a/,
    );
  });

  it('refuses an unbound agent token', async () => {
    await expect(sign(tokens.agentUnbound!, id('shop', 'web'), 'node-a')).rejects.toThrow(
      /UNAUTHENTICATED: token refused: .*not bound to a pod or a node/,
    );
  });

  it("refuses a token of the wrong audience (the API server's own)", async () => {
    await expect(sign(tokens.agentApiAudience!, id('shop', 'web'), 'node-a')).rejects.toThrow(
      /UNAUTHENTICATED: token refused: TokenReview did not authenticate the token: .*token audiences .* is invalid for the target audiences \["ambit-ca"\]/,
    );
  });

  it('refuses a pod asking for another service account', async () => {
    expect(await sign(tokens.web!, id('shop', 'web'))).toContain('BEGIN CERTIFICATE');
    await expect(sign(tokens.web!, id('shop', 'db'))).rejects.toThrow(
      `PERMISSION_DENIED: waypoint ${id('shop', 'web')} may not obtain certificates for ${id('shop', 'db')}`,
    );
  });

  it('admits a discovery client only as the node its token is bound to, never as a waypoint', async () => {
    const source = (token: string, node: string): XdsMeshSource =>
      new XdsMeshSource({
        address: `127.0.0.1:${controller.ports.grpc}`,
        rootsPem: ca.rootsPem,
        controllerIdentity: controller.identity,
        token,
        node: { name: node, role: 'agent' },
        backoff: { initialMs: 50, maxMs: 300 },
      });
    const asWaypoint = new XdsMeshSource({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: controller.identity,
      token: tokens.agentA!,
      node: { name: 'shop/waypoint', role: 'waypoint', namespace: 'shop' },
      backoff: { initialMs: 50, maxMs: 300 },
    });
    try {
      await asWaypoint.start(() => []);
      await waitFor(() => asWaypoint.status().reconnects > 0, 'refusal as a waypoint');
      expect(asWaypoint.status().lastError).toMatch(/the token of node node-a cannot subscribe as a waypoint/);
    } finally {
      await asWaypoint.stop();
    }
    const liar = source(tokens.agentA!, 'node-b');
    try {
      await liar.start(() => []);
      await waitFor(() => liar.status().reconnects > 0, 'refusal');
      expect(liar.status().synced).toBe(false);
      expect(liar.status().lastError).toMatch(/the token of node node-a cannot subscribe as node node-b/);
    } finally {
      await liar.stop();
    }
    const honest = source(tokens.agentA!, 'node-a');
    const snapshots: MeshSnapshot[] = [];
    try {
      await honest.start((snap) => {
        snapshots.push(snap);
        return [];
      });
      await honest.whenSynced();
      expect(honest.status().synced).toBe(true);
      // Namespace labels reach the agent (it decides enrolment of pods it does not know yet from them).
      expect(snapshots.at(-1)?.namespaces).toEqual(
        expect.arrayContaining([{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }]),
      );
    } finally {
      await honest.stop();
    }
  });
});
