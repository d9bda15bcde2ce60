// A jwtRule with only jwks (Istio accepts jwksUri or jwks without issuer): tokens of any
// issuer its keys verify are accepted; tokens its keys do not verify are refused (401).
import { describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { RequestAuthentication } from '../../core/model/l7.js';
import { requestContext } from '../../test/support/request-context.js';
import type { RequestContext } from './context.js';
import { JwksCache } from './jwks.js';
import { jwtFilter } from './jwt.js';

const context = (token: string): RequestContext => requestContext({ authorization: `Bearer ${token}` });

describe('JWT filter: a rule without issuer', () => {
  it('accepts any issuer its keys verify, and refuses a token signed by another key', async () => {
    const mine = await generateKeyPair('ES256');
    const other = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(mine.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const policy: RequestAuthentication = {
      key: 'shop/jwt',
      name: 'jwt',
      scope: { namespace: 'shop', level: 'namespace' },
      jwtRules: [{ issuer: '', jwks: JSON.stringify({ keys: [jwk] }) }],
    };
    const filter = jwtFilter([policy], 'istio-system', new JwksCache(), false)!;
    const sign = (key: typeof mine.privateKey, iss: string): Promise<string> =>
      new SignJWT({ sub: 'alice' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(iss)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key);
    const ok = context(await sign(mine.privateKey, 'https://anyone.example'));
    expect(await filter.onRequest(ok)).toBeUndefined();
    expect(ok.jwt?.principal).toBe('https://anyone.example/alice');
    const forged = await filter.onRequest(context(await sign(other.privateKey, 'https://anyone.example')));
    expect(forged?.status).toBe(401);
  });
});
