// The CORS filter on its own: preflights answered or forwarded, response headers for actual
// requests, origin matching (exact, prefix, regex, "*").
import { describe, expect, it } from 'vitest';
import type { CorsPolicy, HttpRoute } from '../../core/model/l7.js';
import { buildRequestView } from '../route/request-view.js';
import type { CompiledRoute } from '../route/route-table.js';
import type { RequestContext } from './context.js';
import { corsFilter } from './cors.js';

const POLICY: CorsPolicy = {
  allowOrigins: [
    { type: 'exact', value: 'https://shop.example' },
    { type: 'prefix', value: 'https://dev.' },
    { type: 'regex', value: 'https://[a-z]+\\.test' },
  ],
  allowMethods: ['GET', 'POST'],
  allowHeaders: ['x-user', 'content-type'],
  exposeHeaders: ['x-trace'],
  maxAgeSeconds: 600,
  allowCredentials: true,
};

function ctx(method: string, headers: Record<string, string>, policy: CorsPolicy | null = POLICY): RequestContext {
  const route: HttpRoute = { source: 't', name: 't', matches: [], ...(policy ? { corsPolicy: policy } : {}) };
  return {
    view: buildRequestView({
      method,
      url: '/',
      authority: 'svc',
      headers,
      port: 80,
      source: { ip: '10.0.0.1', port: 1 },
    }),
    upstreamHeaders: {},
    upstreamPath: '/',
    upstreamAuthority: 'svc',
    responseEdits: [],
    route: { route, matches: () => true, cumulative: [], totalWeight: 0 } as CompiledRoute,
  };
}

const preflight = (origin: string) => ({ origin, 'access-control-request-method': 'POST' });

describe('corsFilter', () => {
  it('answers a preflight from an allowed origin locally with the Allow-* headers', async () => {
    for (const origin of ['https://shop.example', 'https://dev.anything', 'https://abc.test']) {
      const reply = await corsFilter.onRequest(ctx('OPTIONS', preflight(origin)));
      expect(reply?.status).toBe(200);
      expect(reply?.headers).toEqual({
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET,POST',
        'access-control-allow-headers': 'x-user,content-type',
        'access-control-max-age': '600',
      });
    }
  });

  it('an unmatched preflight goes upstream (FORWARD, default) or gets a bare 200 (IGNORE)', async () => {
    const c = ctx('OPTIONS', preflight('https://evil.example'));
    expect(await corsFilter.onRequest(c)).toBeUndefined();
    expect(c.responseEdits).toEqual([]);
    // The regex is anchored: a longer origin does not match.
    expect(await corsFilter.onRequest(ctx('OPTIONS', preflight('https://abc.test.evil')))).toBeUndefined();
    const ignore = await corsFilter.onRequest(
      ctx('OPTIONS', preflight('https://evil.example'), { ...POLICY, unmatchedPreflights: 'IGNORE' }),
    );
    expect(ignore?.status).toBe(200);
    expect(ignore?.headers).toBeUndefined();
  });

  it('actual requests from an allowed origin get Allow-Origin, Allow-Credentials, Expose-Headers', async () => {
    const c = ctx('POST', { origin: 'https://shop.example' });
    expect(await corsFilter.onRequest(c)).toBeUndefined();
    expect(c.responseEdits).toEqual([
      {
        set: {
          'access-control-allow-origin': 'https://shop.example',
          'access-control-allow-credentials': 'true',
          'access-control-expose-headers': 'x-trace',
        },
      },
    ]);
    const other = ctx('POST', { origin: 'https://evil.example' });
    await corsFilter.onRequest(other);
    expect(other.responseEdits).toEqual([]);
  });

  it('not CORS without an Origin, or without a policy; OPTIONS without a request method is no preflight', async () => {
    expect(await corsFilter.onRequest(ctx('OPTIONS', { 'access-control-request-method': 'GET' }))).toBeUndefined();
    expect(await corsFilter.onRequest(ctx('OPTIONS', preflight('https://shop.example'), null))).toBeUndefined();
    const plainOptions = ctx('OPTIONS', { origin: 'https://shop.example' });
    expect(await corsFilter.onRequest(plainOptions)).toBeUndefined();
    expect(plainOptions.responseEdits).toHaveLength(1);
  });

  it('an allowed origin "*" allows every origin and echoes it', async () => {
    const reply = await corsFilter.onRequest(
      ctx('OPTIONS', preflight('https://any.example'), { allowOrigins: [{ type: 'exact', value: '*' }] }),
    );
    expect(reply?.headers).toEqual({ 'access-control-allow-origin': 'https://any.example' });
  });
});
