// Agents and waypoints pin the controller's identity: a server whose certificate chains to
// the right root but carries another SPIFFE id (another namespace or service account) is
// refused by the discovery client and the CA client, and the one they pin is accepted. The
// controller presents the identity of its own namespace and service account.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { nodeTokenFileAuthenticator } from '../../controller/ca/auth.js';
import { controllerSettings } from '../../controller/settings.js';
import { FileSource } from '../../controller/sources/file.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { setLogSink } from '../../core/log.js';
import { XdsMeshSource } from '../../core/xds/mesh-source.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'c'.repeat(32);
const POD = `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop }
spec: { serviceAccountName: web, containers: [{ name: web, image: x }] }
`;

describe('pinned controller identity', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let controller: Controller;
  // The identity the settings derive for a controller in namespace `mesh-cp`.
  const identity = controllerSettings(
    { '--trust-domain': 'cluster.local' },
    { POD_NAMESPACE: 'mesh-cp', SERVICE_ACCOUNT: 'ambit-controller' },
  ).identity;
  const impostor = 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller';

  beforeAll(async () => {
    setLogSink({ write: () => true });
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-pinned-'));
    await writeFile(path.join(dir, 'pod.yaml'), POD);
    await writeFile(path.join(dir, 'node-tokens'), `${TOKEN} node-a\n`);
    ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
    controller = await Controller.start({
      source: new FileSource({ path: dir, debounceMs: 20 }),
      ca,
      identity,
      authenticate: nodeTokenFileAuthenticator(path.join(dir, 'node-tokens')),
      localNode: 'node-a',
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      readyPort: 0,
      translateDebounceMs: 20,
      pushDebounceMs: 20,
    });
    await waitFor(() => controller.isReady(), 'controller ready');
  });

  afterAll(async () => {
    await controller.stop();
    setLogSink(process.stderr);
    await rm(dir, { recursive: true, force: true });
  });

  it('the controller presents the identity of its namespace and service account', () => {
    expect(identity).toBe('spiffe://cluster.local/ns/mesh-cp/sa/ambit-controller');
    expect(controller.identity).toBe(identity);
  });

  const discovery = (pinned: string): XdsMeshSource =>
    new XdsMeshSource({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      controllerIdentity: pinned,
      token: TOKEN,
      node: { name: 'node-a', role: 'agent' },
      backoff: { initialMs: 50, maxMs: 200 },
    });

  it('discovery: a controller with another identity is refused, the pinned one accepted', async () => {
    const refused = discovery(impostor);
    try {
      await refused.start(() => []);
      await waitFor(() => refused.status().reconnects > 1, 'a refused connection');
      expect(refused.status().synced).toBe(false);
      expect(refused.status().lastError).toMatch(
        /does not carry spiffe:\/\/cluster\.local\/ns\/ambit-system\/sa\/ambit-controller/,
      );
    } finally {
      await refused.stop();
    }
    const accepted = discovery(identity);
    try {
      await accepted.start(() => []);
      await accepted.whenSynced();
      expect(accepted.status().synced).toBe(true);
    } finally {
      await accepted.stop();
    }
  });

  it('CA: a controller with another identity gets no CSR, the pinned one signs', async () => {
    const key = await generateWorkloadKey();
    const id = 'spiffe://cluster.local/ns/shop/sa/web';
    const req = { csrPem: createCsr(id, key.privateKey), identity: id, ttlSeconds: 600 };
    const wrong = createGrpcCaClient({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      token: TOKEN,
      nodeName: 'node-a',
      serverIdentity: impostor,
      timeoutMs: 3000,
    });
    const right = createGrpcCaClient({
      address: `127.0.0.1:${controller.ports.grpc}`,
      rootsPem: ca.rootsPem,
      token: TOKEN,
      nodeName: 'node-a',
      serverIdentity: identity,
    });
    try {
      await expect(wrong.sign(req)).rejects.toThrow(
        /presented spiffe:\/\/cluster.local\/ns\/mesh-cp\/sa\/ambit-controller, expected spiffe:\/\/cluster.local\/ns\/ambit-system/,
      );
      expect((await right.sign(req)).certChainPem).toContain('BEGIN CERTIFICATE');
    } finally {
      wrong.close();
      right.close();
    }
  });
});
