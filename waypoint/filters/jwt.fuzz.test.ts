// Property-based tests of the waypoint's JWT filter (RequestAuthentication), the entry every
// client token goes through: arbitrary tokens in the Authorization header, the access_token
// parameter or a cookie never make the filter throw; they pass (no token) or get a 401. A
// corrupted valid token is refused, or still carries the signed claims. A valid token's
// output headers are always valid HTTP header values, whatever its claims hold.
import { validateHeaderValue } from 'node:http';
import { beforeAll, describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { requestContext } from '../../test/support/request-context.js';
import type { RequestAuthentication } from '../../core/model/l7.js';
import type { HttpFilter, RequestContext } from './context.js';
import { JwksCache } from './jwks.js';
import { jwtFilter } from './jwt.js';

const ISSUER = 'https://issuer.example';

const context = requestContext;

/** Runs the filter; the property fails on any throw or rejection. */
async function run(filter: HttpFilter, ctx: RequestContext): Promise<number | undefined> {
  const result = await filter.onRequest(ctx);
  if (result !== undefined) expect(result.status).toBe(401);
  return result?.status;
}

const tokenLike = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ maxLength: 200, unit: 'binary' }),
  fc
    .tuple(fc.base64String({ maxLength: 80 }), fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 120 }))
    .map((p) => p.join('.')),
  fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string({ maxLength: 40 })).map(([h, p, s]) =>
    [JSON.stringify(h), JSON.stringify(p)]
      .map((x) => Buffer.from(x).toString('base64url'))
      .concat(Buffer.from(s).toString('base64url'))
      .join('.'),
  ),
  fc
    .tuple(
      fc.constantFrom('none', 'HS256', 'ES256', 'RS256', 'EdDSA', ''),
      fc.dictionary(fc.constantFrom('iss', 'sub', 'aud', 'exp', 'nbf', 'iat'), fc.jsonValue()),
    )
    .map(
      ([alg, claims]) =>
        [JSON.stringify({ alg, typ: 'JWT' }), JSON.stringify({ iss: ISSUER, ...claims })]
          .map((x) => Buffer.from(x).toString('base64url'))
          .join('.') + '.',
    ),
);

describe('JWT filter (fuzz)', () => {
  let filter: HttpFilter;
  let sign: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const policy: RequestAuthentication = {
      key: 'shop/jwt',
      name: 'jwt',
      scope: { namespace: 'shop', level: 'namespace' },
      jwtRules: [
        {
          issuer: ISSUER,
          audiences: ['shop'],
          jwks: JSON.stringify({ keys: [jwk] }),
          fromCookies: ['session'],
          fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
          fromParams: ['access_token'],
          outputPayloadToHeader: 'x-jwt-payload',
          outputClaimToHeaders: [
            { header: 'x-sub', claim: 'sub' },
            { header: 'x-name', claim: 'name' },
            { header: 'x-groups', claim: 'groups' },
          ],
        },
      ],
    };
    filter = jwtFilter([policy], 'istio-system', new JwksCache(), false)!;
    sign = (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience('shop')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey);
    const ok = context({ authorization: `Bearer ${await sign({ sub: 'alice' })}` });
    expect(await run(filter, ok)).toBeUndefined();
    expect(ok.jwt?.principal).toBe(`${ISSUER}/alice`);
  });

  it.prop([tokenLike, fc.constantFrom('header', 'param', 'cookie')], fuzzParams({ quick: 300 }))(
    'an arbitrary token never makes the filter throw: it passes without a principal or gets 401',
    async (token, where) => {
      const ctx =
        where === 'header'
          ? context({ authorization: `Bearer ${token}` })
          : where === 'param'
            ? context({}, new URLSearchParams({ access_token: token }).toString())
            : context({ cookie: `a=b; session=${token}` });
      const status = await run(filter, ctx);
      if (status === undefined) expect(ctx.jwt).toBeUndefined();
    },
    fuzzTimeout(),
  );

  it.prop(
    [
      fc.string({ maxLength: 20 }),
      fc.array(fc.record({ at: fc.nat(), char: fc.constantFrom(...'ABCabc012-_.=+/ '.split('')) }), {
        minLength: 1,
        maxLength: 3,
      }),
    ],
    fuzzParams({ quick: 150 }),
  )(
    'a corrupted valid token is refused, or still carries exactly the signed subject',
    async (sub, edits) => {
      const chars = [...(await sign({ sub }))];
      for (const e of edits) chars[e.at % chars.length] = e.char;
      const ctx = context({ authorization: `Bearer ${chars.join('')}` });
      const status = await run(filter, ctx);
      if (status === undefined && ctx.jwt) expect(ctx.jwt.claims.sub).toBe(sub);
    },
    fuzzTimeout(),
  );

  it.prop(
    [
      fc.record(
        {
          sub: fc.string(),
          name: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.jsonValue()),
          groups: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    ],
    fuzzParams({
      quick: 150,
      examples: [[{ sub: 'alice', name: 'Eve\r\nx-admin: true' }], [{ sub: 'bob', name: 'Zoë' }]],
    }),
  )(
    'a valid token gives output headers that are valid HTTP header values, whatever its claims',
    async (claims) => {
      const ctx = context({ authorization: `Bearer ${await sign(claims)}` });
      expect(await run(filter, ctx)).toBeUndefined();
      for (const [name, value] of Object.entries(ctx.jwt?.headers ?? {})) {
        expect(() => validateHeaderValue(name, value)).not.toThrow();
      }
      expect(ctx.jwt?.headers['x-jwt-payload']).toBeDefined();
    },
    fuzzTimeout(),
  );
});
