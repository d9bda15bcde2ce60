// VirtualServices are decoded against their CRD schema before Istio's value rules run: a value
// of the wrong type, an unknown field, a missing required field or a value outside an enum
// rejects the VirtualService, naming it, the field path and the file:line it came from, and
// the rest of the mesh still translates. Fields Istio's API has are accepted and read.
import { describe, expect, it } from 'vitest';
import { formatRejection, type TranslateResult } from './index.js';
import { translateAfterMesh } from './testdata/with-origins.js';

const FILE = 'routes.yaml';

/** A VirtualService named `bad` for host ratings (a waypoint's service, port 8080) with the given spec lines (after `hosts`). */
const vsYaml = (spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: bad, namespace: shop }\n` +
  `spec:\n  hosts: [ratings]\n${spec.replace(/^/gm, '  ')}\n`;

const route = 'route: [{ destination: { host: ratings } }]';

/** Translate MESH plus one VirtualService document, read as from FILE (with origins). */
function translateWith(vs: string): { result: TranslateResult; vsLine: number } {
  const { result, line } = translateAfterMesh(vs, FILE);
  return { result, vsLine: line };
}

const CASES: readonly [what: string, spec: string, field: string, reason: RegExp][] = [
  ['hosts as a string', 'gateways: mesh\nhttp: [{ route: [] }]', 'spec.gateways', /must be a list, got string/],
  [
    'a weight in quotes',
    'http: [{ route: [{ destination: { host: ratings }, weight: "50" }] }]',
    'spec.http[0].route[0].weight',
    /must be an integer, got string "50"/,
  ],
  [
    '`rout:` for `route:`',
    'http: [{ rout: [{ destination: { host: ratings } }] }]',
    'spec.http[0].rout',
    /unknown field/,
  ],
  [
    'a corsPolicy typo',
    `http: [{ ${route}, corsPolicy: { allowOrigns: [{ exact: a }] } }]`,
    'spec.http[0].corsPolicy.allowOrigns',
    /unknown field "allowOrigns"/,
  ],
  [
    'a destination without its host',
    'http: [{ route: [{ destination: { subset: v1 } }] }]',
    'spec.http[0].route[0].destination.host',
    /required field is missing/,
  ],
  [
    'a route entry without its destination',
    'http: [{ route: [{ weight: 100 }] }]',
    'spec.http[0].route[0].destination',
    /required field is missing/,
  ],
  [
    'a directResponse without its status',
    'http: [{ directResponse: { body: { string: gone } } }]',
    'spec.http[0].directResponse.status',
    /required field is missing/,
  ],
  [
    'a tls route without match',
    'tls: [{ route: [{ destination: { host: ratings } }] }]',
    'spec.tls[0].match',
    /required field is missing/,
  ],
  [
    'a tls match without sniHosts',
    'tls: [{ match: [{ port: 443 }], route: [{ destination: { host: ratings } }] }]',
    'spec.tls[0].match[0].sniHosts',
    /required field is missing/,
  ],
  [
    'a tcp mirror of an http field',
    'tcp: [{ route: [{ destination: { host: ratings } }], timeout: 1s }]',
    'spec.tcp[0].timeout',
    /unknown field "timeout"/,
  ],
  [
    'a derivePort Istio does not have',
    'http: [{ redirect: { derivePort: FROM_HOST } }]',
    'spec.http[0].redirect.derivePort',
    /unknown value "FROM_HOST"/,
  ],
  [
    'exponentialDelay, which Istio does not implement',
    `http: [{ ${route}, fault: { delay: { exponentialDelay: 1s } } }]`,
    'spec.http[0].fault.delay.exponentialDelay',
    /not supported/,
  ],
  [
    'a redirect prefixRewrite',
    'http: [{ redirect: { prefixRewrite: /v2 } }]',
    'spec.http[0].redirect.prefixRewrite',
    /not supported by Ambit/,
  ],
  [
    'a tcp sourceSubnet',
    'tcp: [{ match: [{ sourceSubnet: 10.0.0.0/8 }], route: [{ destination: { host: ratings } }] }]',
    'spec.tcp[0].match[0].sourceSubnet',
    /not supported by Ambit/,
  ],
  [
    'an abort with two kinds of error',
    `http: [{ ${route}, fault: { abort: { httpStatus: 503, grpcStatus: UNAVAILABLE } } }]`,
    'spec.http[0].fault.abort',
    /only one of httpStatus, grpcStatus may be set/,
  ],
];

describe('decoded VirtualServices: rejections name object, field and file:line', () => {
  it.each(CASES)('%s', (_what, spec, field, reason) => {
    const { result, vsLine } = translateWith(vsYaml(spec));
    const mine = result.rejected.filter((r) => r.name === 'bad');
    expect(mine.map(formatRejection)).toHaveLength(1);
    const [hit] = mine;
    expect(hit).toMatchObject({
      kind: 'VirtualService',
      namespace: 'shop',
      field,
      origin: { file: FILE, line: vsLine },
    });
    expect(hit!.reason).toMatch(reason);
    expect(formatRejection(hit!)).toBe(`VirtualService/shop/bad: ${field}: ${hit!.reason} (${FILE}:${vsLine})`);
    expect(result.rejected.filter((r) => r.name !== 'bad')).toEqual([]);
    // The rejected VirtualService routes nothing: ratings keeps its default route.
    const routes = result.waypoints.get('shop')?.virtualHosts.find((v) => v.host.startsWith('ratings.'))?.routes;
    expect(routes?.map((r) => r.source)).toEqual(['default']);
  });
});

describe('fields of Istio API that the schema now carries', () => {
  const routesOf = (spec: string) => {
    const { result } = translateWith(vsYaml(spec));
    expect(result.rejected.map(formatRejection)).toEqual([]);
    return result.waypoints.get('shop')?.virtualHosts.find((v) => v.host.startsWith('ratings.'))?.routes ?? [];
  };

  it('the deprecated corsPolicy.allowOrigin: exact origins, before allowOrigins', () => {
    const [r] = routesOf(
      `http: [{ ${route}, corsPolicy: { allowOrigin: [https://a.example], allowOrigins: [{ prefix: https://b. }] } }]`,
    );
    expect(r?.corsPolicy?.allowOrigins).toEqual([
      { type: 'exact', value: 'https://a.example' },
      { type: 'prefix', value: 'https://b.' },
    ]);
  });

  it('a header or query match `{}` means present with any value', () => {
    const [r] = routesOf(`http: [{ match: [{ headers: { X-Canary: {} }, queryParams: { debug: {} } }], ${route} }]`);
    expect(r?.matches).toEqual([
      {
        headers: { 'x-canary': { type: 'regex', value: '.*' } },
        queryParams: { debug: { type: 'regex', value: '.*' } },
      },
    ]);
  });

  it('retries with retryIgnorePreviousHosts and backoff are accepted; the policy Ambit applies is unchanged', () => {
    const [r] = routesOf(
      `http: [{ ${route}, retries: { attempts: 3, retryOn: "5xx,reset", retryIgnorePreviousHosts: true, backoff: 25ms } }]`,
    );
    expect(r?.retries).toEqual({ attempts: 3, retryOn: ['5xx', 'reset'] });
  });
});
