// The test API server behaves like a real one where Ambit depends on it: RBAC from stored
// Roles/Bindings, service-account tokens (JWT, audiences, bound pods), TokenReview, HTTPS.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer, type FakeObject } from '../support/fake-apiserver.js';
import { KubeApi } from '../../controller/sources/kube-api.js';

const RBAC = 'rbac.authorization.k8s.io/v1';

function objects(): FakeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sys' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ctrl', namespace: 'sys' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agent', namespace: 'sys' } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'agent-x', namespace: 'sys' },
      spec: { nodeName: 'node-a', serviceAccountName: 'agent' },
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: 'ctrl' },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        { apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways/status'], verbs: ['update'] },
      ],
    },
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'ctrl' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ctrl' },
      subjects: [{ kind: 'ServiceAccount', name: 'ctrl', namespace: 'sys' }],
    },
    {
      apiVersion: RBAC,
      kind: 'Role',
      metadata: { name: 'ca', namespace: 'sys' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['mesh'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: RBAC,
      kind: 'RoleBinding',
      metadata: { name: 'ca', namespace: 'sys' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ca' },
      subjects: [{ kind: 'ServiceAccount', name: 'ctrl', namespace: 'sys' }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mesh', namespace: 'sys' }, data: { a: 'b' } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'wp', namespace: 'sys' },
      spec: {},
    },
  ];
}

describe('fake API server in RBAC mode', () => {
  let api: FakeApiServer;
  beforeEach(async () => {
    api = await FakeApiServer.start({ rbac: true });
    api.serveStandard();
    api.serve({
      group: 'gateway.networking.k8s.io',
      versions: ['v1'],
      plural: 'gateways',
      kind: 'Gateway',
      namespaced: true,
      crd: true,
    });
    for (const o of objects()) api.create(o);
  });
  afterEach(async () => {
    await api.close();
  });

  const call = async (token: string | undefined, path: string, init: RequestInit = {}) => {
    const res = await fetch(api.url + path, {
      ...init,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('grants what the bindings grant and answers 403 with a Status for the rest', async () => {
    const ctrl = api.mintToken({ namespace: 'sys', serviceAccount: 'ctrl' });
    expect((await call(ctrl, '/api/v1/pods')).status).toBe(200);
    expect((await call(ctrl, '/api/v1/namespaces/sys/pods/agent-x')).status).toBe(200);
    const denied = await call(ctrl, '/api/v1/namespaces/sys/secrets');
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(String(denied.body.message)).toContain(
      'User "system:serviceaccount:sys:ctrl" cannot list resource "secrets" in API group "" in the namespace "sys"',
    );
    expect(api.denials.at(-1)).toMatchObject({ verb: 'list', resource: 'secrets', namespace: 'sys' });
    // a write the ClusterRole does not grant
    expect(
      (
        await call(ctrl, '/api/v1/namespaces/sys/pods', {
          method: 'POST',
          body: JSON.stringify({ metadata: { name: 'p' } }),
        })
      ).status,
    ).toBe(403);
    // no token, a garbage token, a token for another audience: 401
    expect((await call(undefined, '/api/v1/pods')).status).toBe(401);
    expect((await call('abc.def.ghi', '/api/v1/pods')).status).toBe(401);
    expect(
      (await call(api.mintToken({ namespace: 'sys', serviceAccount: 'ctrl', audiences: ['ambit-ca'] }), '/api/v1/pods'))
        .status,
    ).toBe(401);
    // the agent's service account has no binding at all
    expect((await call(api.mintToken({ namespace: 'sys', serviceAccount: 'agent' }), '/api/v1/pods')).status).toBe(403);
    // the admin may do anything
    expect((await call(api.adminToken, '/api/v1/namespaces/sys/secrets')).status).toBe(200);
  });

  it('applies resourceNames to get, and to list/watch only with a metadata.name field selector', async () => {
    const ctrl = api.mintToken({ namespace: 'sys', serviceAccount: 'ctrl' });
    expect((await call(ctrl, '/api/v1/namespaces/sys/configmaps/mesh')).status).toBe(200);
    expect((await call(ctrl, '/api/v1/namespaces/sys/configmaps/other')).status).toBe(403);
    expect((await call(ctrl, '/api/v1/namespaces/sys/configmaps')).status).toBe(403);
    const one = await call(ctrl, '/api/v1/namespaces/sys/configmaps?fieldSelector=metadata.name%3Dmesh');
    expect(one.status).toBe(200);
    expect((one.body.items as FakeObject[]).map((o) => o.metadata.name)).toEqual(['mesh']);
    // a Role grants in its namespace only
    expect((await call(ctrl, '/api/v1/namespaces/other/configmaps/mesh')).status).toBe(403);
  });

  it('authorizes subresources separately from their resource', async () => {
    const ctrl = api.mintToken({ namespace: 'sys', serviceAccount: 'ctrl' });
    const gw = api.getObject('Gateway', 'wp', 'sys')!;
    const put = await call(ctrl, '/apis/gateway.networking.k8s.io/v1/namespaces/sys/gateways/wp/status', {
      method: 'PUT',
      body: JSON.stringify({ ...gw, spec: { changed: true }, status: { ok: true } }),
    });
    expect(put.status).toBe(200);
    expect(api.getObject('Gateway', 'wp', 'sys')).toMatchObject({ spec: {}, status: { ok: true } });
    expect(
      (
        await call(ctrl, '/apis/gateway.networking.k8s.io/v1/namespaces/sys/gateways/wp', {
          method: 'PUT',
          body: JSON.stringify(gw),
        })
      ).status,
    ).toBe(403);
  });

  it('reviews tokens as the real TokenReview: audiences, service-account user, pod-bound extras', async () => {
    const ctrl = api.mintToken({ namespace: 'sys', serviceAccount: 'ctrl' });
    const review = async (token: string, audiences?: string[]) =>
      (
        await call(ctrl, '/apis/authentication.k8s.io/v1/tokenreviews', {
          method: 'POST',
          body: JSON.stringify({
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token, ...(audiences ? { audiences } : {}) },
          }),
        })
      ).body.status as {
        authenticated: boolean;
        user?: { username: string; extra?: Record<string, string[]>; groups: string[] };
        audiences?: string[];
        error?: string;
      };

    const bound = api.mintToken({ namespace: 'sys', serviceAccount: 'agent', audiences: ['ambit-ca'], pod: 'agent-x' });
    const ok = await review(bound, ['ambit-ca', 'other']);
    expect(ok.authenticated).toBe(true);
    expect(ok.audiences).toEqual(['ambit-ca']);
    expect(ok.user!.username).toBe('system:serviceaccount:sys:agent');
    expect(ok.user!.groups).toContain('system:serviceaccounts:sys');
    const podUid = api.getObject('Pod', 'agent-x', 'sys')!.metadata.uid!;
    expect(ok.user!.extra).toMatchObject({
      'authentication.kubernetes.io/pod-name': ['agent-x'],
      'authentication.kubernetes.io/pod-uid': [podUid],
      'authentication.kubernetes.io/node-name': ['node-a'],
    });
    expect(ok.user!.extra!['authentication.kubernetes.io/credential-id']![0]).toMatch(/^JTI=/);

    // other audience, and the default (the API's) audience
    expect(await review(bound, ['istio-ca'])).toMatchObject({ authenticated: false });
    expect((await review(bound)).authenticated).toBe(false);
    const unbound = api.mintToken({ namespace: 'sys', serviceAccount: 'agent' });
    const plain = await review(unbound);
    expect(plain.authenticated).toBe(true);
    expect(plain.user!.extra!['authentication.kubernetes.io/pod-name']).toBeUndefined();
    // expired; bound pod deleted
    expect(
      (
        await review(
          api.mintToken({ namespace: 'sys', serviceAccount: 'agent', audiences: ['ambit-ca'], expirationSeconds: -5 }),
          ['ambit-ca'],
        )
      ).authenticated,
    ).toBe(false);
    api.delete('Pod', 'agent-x', 'sys');
    expect((await review(bound, ['ambit-ca'])).error).toContain('no longer exists');
    // the caller needs create tokenreviews
    const agent = api.mintToken({ namespace: 'sys', serviceAccount: 'agent' });
    expect(
      (
        await call(agent, '/apis/authentication.k8s.io/v1/tokenreviews', {
          method: 'POST',
          body: JSON.stringify({ spec: { token: unbound } }),
        })
      ).status,
    ).toBe(403);
  });

  it('issues bound tokens through the TokenRequest subresource, as the kubelet asks for them', async () => {
    const res = await call(api.adminToken, '/api/v1/namespaces/sys/serviceaccounts/agent/token', {
      method: 'POST',
      body: JSON.stringify({
        spec: {
          audiences: ['ambit-ca'],
          expirationSeconds: 600,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'agent-x' },
        },
      }),
    });
    expect(res.status).toBe(201);
    const token = (res.body.status as { token: string }).token;
    const r = api.authenticateToken(token, ['ambit-ca']);
    expect('user' in r && r.user.extra!['authentication.kubernetes.io/node-name']).toEqual(['node-a']);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      sub: 'system:serviceaccount:sys:agent',
      aud: ['ambit-ca'],
      'kubernetes.io': { pod: { name: 'agent-x' }, node: { name: 'node-a' } },
    });
  });
});

describe('fake API server over HTTPS', () => {
  it('serves in-cluster style clients that trust its CA', async () => {
    const api = await FakeApiServer.start({ rbac: true, tls: true });
    try {
      api.serveStandard();
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
      const kc = new KubeConfig();
      kc.loadFromString(api.kubeconfig());
      const list = await new KubeApi(kc).list('/api/v1/namespaces');
      expect(list.items.map((i) => (i.metadata as { name: string }).name)).toEqual(['x']);
      expect(api.url.startsWith('https://')).toBe(true);
    } finally {
      await api.close();
    }
  });
});
