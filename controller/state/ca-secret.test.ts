import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createLogger } from '../../core/log.js';
import { FakeApiServer } from '../../test/support/fake-apiserver.js';
import { KubeApi } from '../sources/kube-api.js';
import { loadOrCreateCaFromSecrets } from './ca-secret.js';

describe('CA persisted in a Secret (kube mode)', () => {
  let api: FakeApiServer;
  let kube: KubeApi;
  const dirs: string[] = [];
  const tempDir = async () => {
    const d = await mkdtemp(path.join(tmpdir(), 'ambit-ca-secret-'));
    dirs.push(d);
    return d;
  };
  const load = async (dir: string) =>
    loadOrCreateCaFromSecrets({
      api: kube,
      namespace: 'ambit-system',
      dir,
      trustDomain: 'cluster.local',
      log: createLogger('test'),
    });

  beforeEach(async () => {
    api = await FakeApiServer.start();
    api.serve({ group: '', versions: ['v1'], plural: 'secrets', kind: 'Secret', namespaced: true });
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    kube = new KubeApi(kc);
  });
  afterEach(async () => {
    await api.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('generates a root once and every later start (another replica, a lost disk) reuses it', async () => {
    const first = await load(await tempDir());
    expect(api.requests.filter((r) => r === '/api/v1/namespaces/ambit-system/secrets')).toHaveLength(1); // the create
    const second = await load(await tempDir());
    expect(second.rootsPem).toBe(first.rootsPem);
    const leaf = await second.issue('spiffe://cluster.local/ns/shop/sa/web');
    expect(leaf.rootsPem).toBe(first.rootsPem);
  });

  it('prefers a plugged-in cacerts Secret', async () => {
    const pluggedDir = await tempDir();
    const plugged = await CertificateAuthority.loadOrCreate(pluggedDir);
    const data: Record<string, string> = {};
    for (const f of ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem']) {
      try {
        data[f] = (await readFile(path.join(pluggedDir, f))).toString('base64');
      } catch {
        /* optional */
      }
    }
    api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: 'ambit-system' }, data });
    const ca = await load(await tempDir());
    expect(ca.rootsPem).toBe(plugged.rootsPem);
    expect(api.requests).not.toContain('/api/v1/namespaces/ambit-system/secrets');
  });
});
