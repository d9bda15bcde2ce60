// Kube mode against a small API server speaking the real REST shapes for Secrets and TokenReviews.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { GENERATED_CA_SECRET, kubeCaAuthenticator, loadKubeCa, PLUGGED_IN_CA_SECRET, secretCaStore } from './kube.js';
import { CertificateAuthority } from '../../core/identity/ca.js';

type Secret = { metadata: { name: string; namespace: string }; data: Record<string, string> };
const secrets = new Map<string, Secret>();
const reviews: Array<{ token: string; audiences?: string[] }> = [];
const podGets: string[] = [];
let server: http.Server;
let kc: KubeConfig;

function reply(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
const statusBody = (code: number, reason: string, message: string): object => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
});

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== 'Bearer controller-token')
        return reply(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const url = req.url ?? '';
      let m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/?]+)$/.exec(url);
      if (m && req.method === 'GET') {
        const s = secrets.get(`${m[1]}/${m[2]}`);
        return s
          ? reply(res, 200, { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', ...s })
          : reply(res, 404, statusBody(404, 'NotFound', `secrets "${m[2]}" not found`));
      }
      m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(url);
      if (m && req.method === 'POST') {
        const key = `${m[1]}/${body.metadata.name}`;
        if (secrets.has(key))
          return reply(res, 409, statusBody(409, 'AlreadyExists', `secrets "${body.metadata.name}" already exists`));
        secrets.set(key, { metadata: { name: body.metadata.name, namespace: m[1]! }, data: body.data });
        return reply(res, 201, body);
      }
      if (url === '/apis/authentication.k8s.io/v1/tokenreviews' && req.method === 'POST') {
        reviews.push({ token: body.spec.token, ...(body.spec.audiences ? { audiences: body.spec.audiences } : {}) });
        // As the real API server: the token is valid for its own audience only.
        const ok = body.spec.token === 'agent-sa-token' && (body.spec.audiences ?? []).includes('ambit-ca');
        return reply(res, 201, {
          ...body,
          status: ok
            ? {
                authenticated: true,
                audiences: ['ambit-ca'],
                user: {
                  username: 'system:serviceaccount:ambit-system:ambit-agent',
                  extra: {
                    'authentication.kubernetes.io/pod-name': ['ambit-agent-x1'],
                    'authentication.kubernetes.io/pod-uid': ['uid-x1'],
                  },
                },
              }
            : {
                authenticated: false,
                error:
                  body.spec.token === 'agent-sa-token'
                    ? 'token audiences ["ambit-ca"] is invalid for the target audiences'
                    : 'invalid bearer token',
              },
        });
      }
      m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)$/.exec(url);
      if (m && req.method === 'GET') {
        podGets.push(`${m[1]}/${m[2]}`);
        if (`${m[1]}/${m[2]}` !== 'ambit-system/ambit-agent-x1')
          return reply(res, 404, statusBody(404, 'NotFound', `pods "${m[2]}" not found`));
        return reply(res, 200, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: m[2], namespace: m[1], uid: 'uid-x1' },
          spec: { nodeName: 'node-a', serviceAccountName: 'ambit-agent', containers: [] },
        });
      }
      reply(res, 404, statusBody(404, 'NotFound', url));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'fake', token: 'controller-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
});
afterAll(() => {
  server.close();
});

describe('CA in a Kubernetes Secret', () => {
  it('generates ambit-ca once; concurrent controllers end up with the same root', async () => {
    secrets.clear();
    const [a, b] = await Promise.all([
      loadKubeCa(kc, { namespace: 'ambit-system', trustDomain: 'cluster.local' }),
      loadKubeCa(kc, { namespace: 'ambit-system', trustDomain: 'cluster.local' }),
    ]);
    expect(a.rootsPem).toBe(b.rootsPem);
    const stored = secrets.get(`ambit-system/${GENERATED_CA_SECRET}`);
    expect(Object.keys(stored!.data).sort()).toEqual(['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']);
    expect(Buffer.from(stored!.data['root-cert.pem']!, 'base64').toString()).toBe(a.rootsPem);
    const again = await loadKubeCa(kc, { namespace: 'ambit-system', trustDomain: 'cluster.local' });
    expect(again.rootsPem).toBe(a.rootsPem);
  });

  it('prefers a plugged-in cacerts Secret', async () => {
    secrets.clear();
    const holder = new Map<string, string>();
    // Generate CA material (captured by an in-memory store), then plug it in as `cacerts`.
    const generated = await CertificateAuthority.loadOrCreateFrom({
      describe: (k) => k,
      load: async () => undefined,
      save: async (m) => {
        for (const [k, v] of Object.entries(m)) holder.set(k, v);
        return 'saved';
      },
    });
    await secretCaStore(kc, 'ambit-system', PLUGGED_IN_CA_SECRET).save(Object.fromEntries(holder) as never);
    const ca = await loadKubeCa(kc, { namespace: 'ambit-system', trustDomain: 'cluster.local' });
    expect(ca.rootsPem).toBe(holder.get('root-cert.pem'));
    expect(ca.rootsPem).toBe(generated.rootsPem);
    expect(secrets.has(`ambit-system/${GENERATED_CA_SECRET}`)).toBe(false);
  });

  it('names the Secret key of an inconsistent CA', async () => {
    secrets.clear();
    await loadKubeCa(kc, { namespace: 'ambit-system', trustDomain: 'cluster.local' });
    const stored = secrets.get(`ambit-system/${GENERATED_CA_SECRET}`)!;
    delete stored.data['ca-key.pem'];
    await expect(loadKubeCa(kc, { namespace: 'ambit-system', trustDomain: 'cluster.local' })).rejects.toMatchObject({
      code: 'AMBIT_E_CA',
      message: 'Secret ambit-system/ambit-ca key ca-key.pem is missing (ca-cert.pem is present)',
    });
  });
});

describe('TokenReview', () => {
  it('sends the audience, learns the node from the bound pod (read once), and refuses an invalid token', async () => {
    const authenticate = kubeCaAuthenticator(kc, { trustDomain: 'cluster.local' });
    expect(await authenticate('agent-sa-token', { nodeName: 'node-z' })).toEqual({ kind: 'agent', node: 'node-a' });
    expect(await authenticate('agent-sa-token', {})).toEqual({ kind: 'agent', node: 'node-a' });
    expect(reviews.at(-1)).toEqual({ token: 'agent-sa-token', audiences: ['ambit-ca'] });
    expect(podGets).toEqual(['ambit-system/ambit-agent-x1']);
    await expect(authenticate('forged', {})).rejects.toThrow(
      'TokenReview did not authenticate the token: invalid bearer token',
    );
    expect(reviews.at(-1)).toEqual({ token: 'forged', audiences: ['ambit-ca'] });
  });

  it("refuses a token of the chart's agent when the controller expects another audience", async () => {
    const authenticate = kubeCaAuthenticator(kc, { trustDomain: 'cluster.local', audience: 'other-ca' });
    await expect(authenticate('agent-sa-token', {})).rejects.toThrow(
      /did not authenticate the token: token audiences .* is invalid for the target audiences/,
    );
    expect(reviews.at(-1)).toEqual({ token: 'agent-sa-token', audiences: ['other-ca'] });
  });
});
