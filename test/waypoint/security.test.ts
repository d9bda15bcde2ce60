// Security through a real waypoint: RequestAuthentication (inline JWKS and a JWKS server on
// loopback), AuthorizationPolicy at L7 (ALLOW/DENY/AUDIT/CUSTOM with an ext-authz server).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setLogSink } from '../../core/log.js';
import type { WaypointConfig } from '../../core/model/l7.js';
import type { AuthorizationPolicy } from '../../core/model/types.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { testCa } from '../support/pki.js';
import { to, waypointConfig, WaypointHarness, type Pod } from '../support/waypoint-harness.js';

const LOCAL_ISSUER = 'https://issuer.example';
const REMOTE_ISSUER = 'https://remote.example';
const ADMIN = 'cluster.local/ns/coffee-shop/sa/admin-service';

function policy(
  name: string,
  action: AuthorizationPolicy['action'],
  rules: AuthorizationPolicy['rules'],
  provider?: string,
): AuthorizationPolicy {
  return {
    key: `coffee-shop/${name}`,
    name,
    scope: { namespace: 'coffee-shop', level: 'namespace' },
    action,
    rules,
    ...(provider ? { provider } : {}),
  };
}

type SignKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('waypoint security', () => {
  let w: WaypointHarness;
  let pod: Pod;
  let localKey: SignKey;
  let remoteKey: SignKey;
  let strangerKey: SignKey;
  let jwksServer: http.Server;
  let extAuthz: http.Server;
  let jwksFetches = 0;
  let config: WaypointConfig;
  const extSeen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }> = [];
  const logs: string[] = [];

  const token = async (
    key: SignKey,
    kid: string,
    alg: string,
    claims: Record<string, unknown>,
    opts: { iss?: string; aud?: string; exp?: string | number } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid })
      .setIssuer(opts.iss ?? LOCAL_ISSUER)
      .setSubject(String(claims.sub ?? 'alice'))
      .setAudience(opts.aud ?? 'coffee-shop')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '10m')
      .sign(key);
  const local = (sub: string, extra: Record<string, unknown> = {}, opts: Parameters<typeof token>[4] = {}) =>
    token(localKey, 'local-1', 'RS256', { sub, ...extra }, opts);
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    const localPair = await generateKeyPair('RS256');
    const remotePair = await generateKeyPair('ES256');
    localKey = localPair.privateKey;
    remoteKey = remotePair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const localJwk: JWK = { ...(await exportJWK(localPair.publicKey)), kid: 'local-1', alg: 'RS256', use: 'sig' };
    const remoteJwk: JWK = { ...(await exportJWK(remotePair.publicKey)), kid: 'remote-1', alg: 'ES256', use: 'sig' };

    jwksServer = http.createServer((req, res) => {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [remoteJwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    extAuthz = http.createServer((req, res) => {
      extSeen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const want = Number(req.headers['x-want-status'] ?? 0);
      if (req.headers['x-ext-authz'] === 'allow' && !want) {
        res.writeHead(200, { 'x-ext-authz-check-result': 'allowed', 'x-not-forwarded': 'x' });
        res.end();
      } else {
        res.writeHead(want || 403, { 'x-ext-authz-check-result': 'denied' });
        res.end('denied by ext-authz');
      }
    });
    await new Promise<void>((r) => extAuthz.listen(0, '127.0.0.1', r));

    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 70);
    pod = w.pods[0]!;
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const mesh = {
      ...DEFAULT_MESH_CONFIG,
      extensionProviders: [
        { name: 'ext-down', envoyExtAuthzHttp: { service: '127.0.0.1', port: closedPort, statusOnError: 503 } },
        { name: 'ext-open', envoyExtAuthzHttp: { service: '127.0.0.1', port: closedPort, failOpen: true } },
        {
          name: 'ext-authz-http',
          envoyExtAuthzHttp: {
            service: '127.0.0.1',
            port: (extAuthz.address() as AddressInfo).port,
            pathPrefix: '/check',
            includeRequestHeadersInCheck: ['x-ext-authz', 'x-want-status'],
            includeAdditionalHeadersInCheck: { 'x-from-waypoint': 'yes' },
            headersToUpstreamOnAllow: ['x-ext-authz-check-result'],
            headersToDownstreamOnDeny: ['x-ext-authz-check-result'],
          },
        },
      ],
    };
    config = waypointConfig(
      [{ source: 'coffee-shop/all', matches: [], destinations: [to(undefined)] }],
      [w.cluster(undefined, () => true)],
      {
        // The JWKS server is plain http on loopback: allowed here by the mesh setting and a test-only address check.
        mesh: { ...mesh, jwksAllowHttp: true },
        requestAuthentications: [
          {
            key: 'coffee-shop/jwt',
            name: 'jwt',
            scope: { namespace: 'coffee-shop', level: 'namespace' },
            jwtRules: [
              { issuer: LOCAL_ISSUER, audiences: ['coffee-shop'], jwks: JSON.stringify({ keys: [localJwk] }) },
              { issuer: REMOTE_ISSUER, jwksUri: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks` },
            ],
          },
        ],
        authorizationPolicies: [
          policy('allow', 'ALLOW', [
            { from: [{ principals: [ADMIN] }], to: [{ methods: ['DELETE'] }] },
            {
              to: [
                {
                  methods: ['GET', 'POST'],
                  paths: ['/orders*', '/public/*', '/custom/*', '/custom-down/*', '/custom-open/*'],
                },
              ],
            },
            { to: [{ methods: ['PUT'], notPaths: ['/locked/*'] }] },
            { to: [{ hosts: ['customer-service.coffee-shop:18080'], paths: ['/byhost'] }] },
            { from: [{ requestPrincipals: [`${LOCAL_ISSUER}/alice`] }], to: [{ paths: ['/jwt/*'] }] },
            { from: [{ requestPrincipals: [`${REMOTE_ISSUER}/*`] }], to: [{ paths: ['/remote/*'] }] },
            { to: [{ paths: ['/claims/*'] }], when: [{ key: 'request.auth.claims[groups]', values: ['baristas'] }] },
          ]),
          policy('deny-admin-paths', 'DENY', [{ to: [{ paths: ['/public/admin*'] }] }]),
          policy('audit-public', 'AUDIT', [{ to: [{ paths: ['/public/audited'] }] }]),
          policy('ext', 'CUSTOM', [{ to: [{ paths: ['/custom/*'] }] }], 'ext-authz-http'),
          policy('ext-down', 'CUSTOM', [{ to: [{ paths: ['/custom-down/*'] }] }], 'ext-down'),
          policy('ext-open', 'CUSTOM', [{ to: [{ paths: ['/custom-open/*'] }] }], 'ext-open'),
          policy('ext-unknown', 'CUSTOM', [{ to: [{ paths: ['/public/unknown-provider'] }] }], 'nobody'),
        ],
      },
    );
    await w.startWaypoint(config, { jwks: { addressAllowed: () => true } });
    setLogSink({
      write: (line: string) => {
        logs.push(line);
        return true;
      },
    });
  });
  afterAll(async () => {
    setLogSink(process.stderr);
    await w?.close();
    jwksServer?.closeAllConnections();
    jwksServer?.close();
    extAuthz?.closeAllConnections();
    extAuthz?.close();
  });

  describe('AuthorizationPolicy', () => {
    it('allows DELETE only from the admin-service principal', async () => {
      const denied = await w.request({ method: 'DELETE', path: '/orders/1' });
      expect(denied.status).toBe(403);
      expect(denied.body).toBe('RBAC: access denied');
      expect((await w.request({ sa: 'admin-service', method: 'DELETE', path: '/orders/1' })).status).toBe(200);
      expect(pod.seen.filter((s) => s.method === 'DELETE')).toHaveLength(1);
    });

    it('matches methods, paths, notPaths and hosts', async () => {
      expect((await w.request({ path: '/orders?id=1' })).status).toBe(200);
      expect((await w.request({ method: 'PATCH', path: '/orders' })).status).toBe(403);
      expect((await w.request({ path: '/elsewhere' })).status).toBe(403);
      expect((await w.request({ method: 'PUT', path: '/open/1', body: 'order=7' })).status).toBe(200);
      expect(pod.seen.at(-1)).toMatchObject({ method: 'PUT', url: '/open/1', body: 'order=7' });
      expect((await w.request({ method: 'PUT', path: '/locked/1', body: 'x' })).status).toBe(403);
      expect((await w.request({ path: '/byhost', authority: 'customer-service.coffee-shop:18080' })).status).toBe(200);
      expect((await w.request({ path: '/byhost', authority: 'customer-service:18080' })).status).toBe(403);
    });

    it('evaluates DENY before ALLOW', async () => {
      expect((await w.request({ path: '/public/menu' })).status).toBe(200);
      const r = await w.request({ path: '/public/admin/users' });
      expect(r.status).toBe(403);
      expect(r.body).toBe('RBAC: access denied');
    });

    it('AUDIT logs the request without denying it', async () => {
      const from = logs.length;
      expect((await w.request({ path: '/public/audited' })).status).toBe(200);
      expect((await w.request({ path: '/public/not-audited' })).status).toBe(200);
      const audits = logs
        .slice(from)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'audit');
      expect(audits).toHaveLength(1);
      expect(audits[0]).toMatchObject({ policy: 'coffee-shop/audit-public', path: '/public/audited', allowed: true });
    });

    it('CUSTOM asks the ext-authz service: 200 allows, anything else denies with its status', async () => {
      const allowed = await w.request({ path: '/custom/a?x=1', headers: { 'x-ext-authz': 'allow', 'x-secret': 's' } });
      expect(allowed.status).toBe(200);
      const check = extSeen.at(-1)!;
      expect(check).toMatchObject({ method: 'GET', url: '/check/custom/a?x=1' });
      expect(check.headers).toMatchObject({
        'x-ext-authz': 'allow',
        'x-from-waypoint': 'yes',
        host: 'customer-service:18080',
        'content-length': '0',
      });
      expect(check.headers['x-secret']).toBeUndefined();
      const upstream = pod.seen.at(-1)!;
      expect(upstream.headers['x-ext-authz-check-result']).toBe('allowed');
      expect(upstream.headers['x-not-forwarded']).toBeUndefined();

      const denied = await w.request({ path: '/custom/b' });
      expect(denied.status).toBe(403);
      expect(denied.body).toBe('denied by ext-authz');
      expect(denied.headers['x-ext-authz-check-result']).toBe('denied');
      const unauthorized = await w.request({
        path: '/custom/c',
        headers: { 'x-ext-authz': 'allow', 'x-want-status': '401' },
      });
      expect(unauthorized.status).toBe(401);
      expect(pod.seen.some((s) => s.url.startsWith('/custom/b') || s.url.startsWith('/custom/c'))).toBe(false);
      // An unreachable service: statusOnError, or through with failOpen; an unknown provider denies.
      expect((await w.request({ path: '/custom-down/x' })).status).toBe(503);
      expect((await w.request({ path: '/custom-open/x' })).status).toBe(200);
      expect((await w.request({ path: '/public/unknown-provider' })).status).toBe(403);
      // Paths outside the CUSTOM policy never reach the ext-authz service.
      const checks = extSeen.length;
      await w.request({ path: '/public/x' });
      expect(extSeen.length).toBe(checks);
    });
  });

  describe('RequestAuthentication', () => {
    it('lets a request without a token through unauthenticated; authz then decides', async () => {
      expect((await w.request({ path: '/public/anon' })).status).toBe(200);
      expect((await w.request({ path: '/jwt/x' })).status).toBe(403);
    });

    it('rejects invalid, expired, wrong-issuer and wrong-audience tokens with 401', async () => {
      const bad = [
        await token(strangerKey, 'local-1', 'RS256', { sub: 'alice' }),
        await local('alice', {}, { exp: Math.floor(Date.now() / 1000) - 120 }),
        await token(localKey, 'local-1', 'RS256', { sub: 'alice' }, { iss: 'https://other.example' }),
        await local('alice', {}, { aud: 'someone-else' }),
      ];
      for (const t of bad) {
        const r = await w.request({ path: '/public/x', headers: bearer(t) });
        expect(r.status).toBe(401);
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    });

    it('gives a valid token the principal iss/sub for requestPrincipals, and its claims for when', async () => {
      expect((await w.request({ path: '/jwt/x', headers: bearer(await local('alice')) })).status).toBe(200);
      expect((await w.request({ path: '/jwt/x', headers: bearer(await local('bob')) })).status).toBe(403);
      // Istio's second default location: the access_token query parameter.
      expect((await w.request({ path: `/jwt/q?access_token=${await local('alice')}` })).status).toBe(200);
      expect((await w.request({ path: '/jwt/q?access_token=garbage' })).status).toBe(401);
      expect(
        (
          await w.request({
            path: '/claims/x',
            headers: bearer(await local('carol', { groups: ['baristas', 'staff'] })),
          })
        ).status,
      ).toBe(200);
      expect(
        (await w.request({ path: '/claims/x', headers: bearer(await local('dave', { groups: ['customers'] })) }))
          .status,
      ).toBe(403);
      // The token is not forwarded upstream (Istio's forwardOriginalToken default).
      expect(pod.seen.at(-2)?.headers.authorization).toBeUndefined();
    });

    it('fetches keys from jwksUri once and caches them', async () => {
      const t = await token(remoteKey, 'remote-1', 'ES256', { sub: 'bob' }, { iss: REMOTE_ISSUER });
      expect((await w.request({ path: '/remote/x', headers: bearer(t) })).status).toBe(200);
      expect((await w.request({ path: '/remote/y', headers: bearer(t) })).status).toBe(200);
      expect(jwksFetches).toBe(1);
      // A push that leaves the rule as it was keeps the key set: no new fetch.
      expect(w.runtime.apply({ ...config, version: 'pushed-again' })).toEqual([]);
      expect((await w.request({ path: '/remote/z', headers: bearer(t) })).status).toBe(200);
      expect(jwksFetches).toBe(1);
      const forged = await token(localKey, 'remote-1', 'RS256', { sub: 'bob' }, { iss: REMOTE_ISSUER });
      expect((await w.request({ path: '/remote/x', headers: bearer(forged) })).status).toBe(401);
      expect((await w.request({ path: '/remote/x' })).status).toBe(403);
    });
  });
});
