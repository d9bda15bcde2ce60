// Each rejection Istio's validation catches: the object is named, the field path and the
// reason are given, the object is left out and everything else still translates.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { parseDurationMs } from './validate/common.js';

const NS = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }]
`;

const vs = (http: string, extra = ''): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bad, namespace: shop }
spec:
  hosts: [reviews]${extra}
  http:
${http.replace(/^/gm, '    ')}
`;

const CASES: { name: string; yaml: string; kind: string; field: string; reason: RegExp }[] = [
  {
    name: 'redirect together with route',
    kind: 'VirtualService',
    yaml: vs('- redirect: { uri: /v2 }\n  route: [{ destination: { host: reviews } }]'),
    field: 'spec.http[0].redirect',
    reason: /cannot set both route and redirect/,
  },
  {
    name: 'negative weight',
    kind: 'VirtualService',
    yaml: vs(
      '- route:\n  - { destination: { host: reviews }, weight: 110 }\n  - { destination: { host: reviews }, weight: -10 }',
    ),
    field: 'spec.http[0].route[1].weight',
    reason: /non-negative integer/,
  },
  {
    name: 'bad regex',
    kind: 'VirtualService',
    yaml: vs('- match: [{ uri: { regex: "/(unclosed" } }]\n  route: [{ destination: { host: reviews } }]'),
    field: 'spec.http[0].match[0].uri.regex',
    reason: /bad regex/,
  },
  {
    name: 'regex RE2 does not support',
    kind: 'VirtualService',
    yaml: vs('- match: [{ headers: { cookie: { regex: "(?!x).*" } } }]\n  route: [{ destination: { host: reviews } }]'),
    field: 'spec.http[0].match[0].headers.cookie.regex',
    reason: /RE2/,
  },
  {
    name: 'two match types',
    kind: 'VirtualService',
    yaml: vs('- match: [{ uri: { exact: /a, prefix: /b } }]\n  route: [{ destination: { host: reviews } }]'),
    field: 'spec.http[0].match[0].uri',
    reason: /only one of exact, prefix, regex/,
  },
  {
    name: 'bad duration',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { host: reviews } }]\n  timeout: 1.5x'),
    field: 'spec.http[0].timeout',
    reason: /invalid duration "1\.5x"/,
  },
  {
    name: 'bad perTryTimeout',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { host: reviews } }]\n  retries: { attempts: 3, perTryTimeout: "10" }'),
    field: 'spec.http[0].retries.perTryTimeout',
    reason: /invalid duration "10"/,
  },
  {
    name: 'unknown retryOn',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { host: reviews } }]\n  retries: { attempts: 3, retryOn: "5xx,sometimes" }'),
    field: 'spec.http[0].retries.retryOn',
    reason: /unknown retry condition "sometimes"/,
  },
  {
    name: 'bad percentage (fault abort)',
    kind: 'VirtualService',
    yaml: vs(
      '- route: [{ destination: { host: reviews } }]\n  fault: { abort: { httpStatus: 500, percentage: { value: 150 } } }',
    ),
    field: 'spec.http[0].fault.abort.percentage.value',
    reason: /percentage 150 must be between 0 and 100/,
  },
  {
    name: 'bad percentage (mirror)',
    kind: 'VirtualService',
    yaml: vs(
      '- route: [{ destination: { host: reviews } }]\n  mirror: { host: reviews }\n  mirrorPercentage: { value: -1 }',
    ),
    field: 'spec.http[0].mirrorPercentage.value',
    reason: /between 0 and 100/,
  },
  {
    name: 'fault abort with an invalid status',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { host: reviews } }]\n  fault: { abort: { httpStatus: 99 } }'),
    field: 'spec.http[0].fault.abort.httpStatus',
    reason: /invalid HTTP status 99/,
  },
  {
    name: 'fault delay without fixedDelay',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { host: reviews } }]\n  fault: { delay: { percentage: { value: 10 } } }'),
    field: 'spec.http[0].fault.delay.fixedDelay',
    reason: /required/,
  },
  {
    name: 'invalid port',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { host: reviews, port: { number: 70000 } } }]'),
    field: 'spec.http[0].route[0].destination.port.number',
    reason: /invalid port 70000/,
  },
  {
    name: 'redirect code not 3xx',
    kind: 'VirtualService',
    yaml: vs('- redirect: { uri: /x, redirectCode: 200 }'),
    field: 'spec.http[0].redirect.redirectCode',
    reason: /must be 3xx/,
  },
  {
    name: 'delegate together with destinations',
    kind: 'VirtualService',
    yaml: vs('- delegate: { name: reviews-routes }\n  route: [{ destination: { host: reviews } }]'),
    field: 'spec.http[0].route',
    reason: /a route with delegate must have no destinations/,
  },
  {
    name: 'directResponse with an invalid status',
    kind: 'VirtualService',
    yaml: vs('- directResponse: { status: 42 }'),
    field: 'spec.http[0].directResponse.status',
    reason: /invalid HTTP status 42/,
  },
  {
    name: 'wildcard * on the mesh',
    kind: 'VirtualService',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: bad, namespace: shop }\nspec:\n  hosts: ["*"]\n  http: [{ route: [{ destination: { host: reviews } }] }]\n',
    field: 'spec.hosts[0]',
    reason: /wildcard host \* is not allowed/,
  },
  {
    name: 'missing destination host',
    kind: 'VirtualService',
    yaml: vs('- route: [{ destination: { subset: v1 } }]'),
    field: 'spec.http[0].route[0].destination.host',
    reason: /required field is missing/,
  },
  {
    name: 'route without destination or redirect',
    kind: 'VirtualService',
    yaml: vs('- match: [{ uri: { prefix: / } }]'),
    field: 'spec.http[0].route',
    reason: /route, redirect or directResponse is required/,
  },
  {
    name: 'selector with non-string labels',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\nspec:\n  host: reviews\n  subsets: [{ name: v2, labels: { version: 2 } }]\n',
    field: 'spec.subsets[0].labels.version',
    reason: /must be a string, got number 2/,
  },
  {
    name: 'DR bad duration',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\nspec:\n  host: reviews\n  trafficPolicy: { outlierDetection: { interval: 1.5x } }\n',
    field: 'spec.trafficPolicy.outlierDetection.interval',
    reason: /invalid duration/,
  },
  {
    name: 'DR unknown load balancer',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\nspec:\n  host: reviews\n  trafficPolicy: { loadBalancer: { simple: FASTEST } }\n',
    field: 'spec.trafficPolicy.loadBalancer.simple',
    reason: /unknown value "FASTEST"/,
  },
  {
    name: 'DR missing host',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\nspec:\n  subsets: [{ name: v1 }]\n',
    field: 'spec.host',
    reason: /required field is missing/,
  },
  {
    name: 'DR duplicate subset',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\nspec:\n  host: reviews\n  subsets: [{ name: v1 }, { name: v1 }]\n',
    field: 'spec.subsets[1].name',
    reason: /duplicate subset name/,
  },
  {
    name: 'DR bad locality distribute',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\nspec:\n  host: reviews\n  trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: "r1/*", to: { "r1/*": 60, "r2/*": 30 } }] } } }\n',
    field: 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to',
    reason: /total weight 90 != 100/,
  },
  {
    name: 'unknown action',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  action: PERMIT\n  rules: [{}]\n',
    field: 'spec.action',
    reason: /unknown value "PERMIT" \(allowed: ALLOW, DENY, AUDIT, CUSTOM\)/,
  },
  {
    name: 'CUSTOM without provider',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  action: CUSTOM\n  rules: [{}]\n',
    field: 'spec.provider.name',
    reason: /CUSTOM action requires a provider/,
  },
  {
    name: 'wildcard in the middle',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  rules: [{ to: [{ operation: { paths: ["/api/*/admin"] } }] }]\n',
    field: 'spec.rules[0].to[0].operation.paths[0]',
    reason: /only allowed as a prefix or suffix/,
  },
  {
    name: 'authz invalid port',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  rules: [{ to: [{ operation: { ports: ["0"] } }] }]\n',
    field: 'spec.rules[0].to[0].operation.ports[0]',
    reason: /invalid port "0"/,
  },
  {
    name: 'authz bad ipBlock',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/40"] } }] }]\n',
    field: 'spec.rules[0].from[0].source.ipBlocks[0]',
    reason: /invalid IP or CIDR/,
  },
  {
    name: 'authz unknown when key',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  rules: [{ when: [{ key: request.color, values: [red] }] }]\n',
    field: 'spec.rules[0].when[0].key',
    reason: /unknown condition key/,
  },
  {
    name: 'authz selector with non-string labels',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  selector: { matchLabels: { enabled: true } }\n  rules: [{}]\n',
    field: 'spec.selector.matchLabels.enabled',
    reason: /must be a string, got boolean/,
  },
  {
    name: 'selector together with targetRefs',
    kind: 'AuthorizationPolicy',
    yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: bad, namespace: shop }\nspec:\n  selector: { matchLabels: { app: a } }\n  targetRefs: [{ kind: Gateway, name: wp }]\n  rules: [{}]\n',
    field: 'spec.selector',
    reason: /selector and targetRef\(s\) cannot both be set/,
  },
  {
    name: 'targetRef without a name',
    kind: 'RequestAuthentication',
    yaml: 'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: bad, namespace: shop }\nspec:\n  targetRef: { kind: Gateway }\n',
    field: 'spec.targetRef.name',
    reason: /required field is missing/,
  },
  {
    name: 'unknown mTLS mode',
    kind: 'PeerAuthentication',
    yaml: 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: bad, namespace: shop }\nspec:\n  mtls: { mode: STRICTER }\n',
    field: 'spec.mtls.mode',
    reason: /unknown value "STRICTER"/,
  },
  {
    name: 'portLevelMtls without selector',
    kind: 'PeerAuthentication',
    yaml: 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: bad, namespace: shop }\nspec:\n  portLevelMtls: { "8080": { mode: DISABLE } }\n',
    field: 'spec.portLevelMtls',
    reason: /requires a workload selector/,
  },
  {
    name: 'portLevelMtls invalid port',
    kind: 'PeerAuthentication',
    yaml: 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: bad, namespace: shop }\nspec:\n  selector: { matchLabels: { app: a } }\n  portLevelMtls: { "99999": { mode: DISABLE } }\n',
    field: 'spec.portLevelMtls.99999',
    reason: /invalid port 99999/,
  },
  {
    name: 'jwks not JSON',
    kind: 'RequestAuthentication',
    yaml: 'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: bad, namespace: shop }\nspec:\n  jwtRules: [{ issuer: me, jwks: "{not json" }]\n',
    field: 'spec.jwtRules[0].jwks',
    reason: /not valid JSON/,
  },
  {
    name: 'ServiceEntry invalid port and missing name',
    kind: 'ServiceEntry',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: bad, namespace: shop }\nspec:\n  hosts: [api.example.com]\n  ports: [{ number: 0, name: https, protocol: HTTPS }]\n  resolution: DNS\n',
    field: 'spec.ports[0].number',
    reason: /invalid port 0/,
  },
  {
    name: 'ServiceEntry unknown resolution',
    kind: 'ServiceEntry',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: bad, namespace: shop }\nspec:\n  hosts: [api.example.com]\n  ports: [{ number: 443, name: https, protocol: HTTPS }]\n  resolution: MAGIC\n',
    field: 'spec.resolution',
    reason: /unknown value "MAGIC"/,
  },
  {
    name: 'ServiceEntry STATIC without endpoints',
    kind: 'ServiceEntry',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: bad, namespace: shop }\nspec:\n  hosts: [db.internal]\n  ports: [{ number: 5432, name: tcp, protocol: TCP }]\n  resolution: STATIC\n',
    field: 'spec.endpoints',
    reason: /STATIC needs endpoints/,
  },
  {
    name: 'ServiceEntry NONE with endpoints',
    kind: 'ServiceEntry',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: bad, namespace: shop }\nspec:\n  hosts: [db.internal]\n  ports: [{ number: 5432, name: tcp, protocol: TCP }]\n  endpoints: [{ address: 10.0.0.1 }]\n',
    field: 'spec.endpoints',
    reason: /no endpoints should be provided for resolution NONE/,
  },
  {
    name: 'Gateway duplicate server port names',
    kind: 'Gateway',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: bad, namespace: shop }\nspec:\n  servers:\n    - { port: { number: 80, name: web, protocol: HTTP }, hosts: ["*"] }\n    - { port: { number: 8080, name: web, protocol: HTTP }, hosts: ["*"] }\n',
    field: 'spec.servers[1].port.name',
    reason: /must be unique/,
  },
  {
    name: 'WorkloadEntry without address',
    kind: 'WorkloadEntry',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: bad, namespace: shop }\nspec:\n  labels: { app: vm }\n',
    field: 'spec.address',
    reason: /required field is missing/,
  },
  {
    name: 'WorkloadGroup without template',
    kind: 'WorkloadGroup',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: { name: bad, namespace: shop }\nspec:\n  metadata: { labels: { app: vm } }\n',
    field: 'spec.template',
    reason: /required field is missing/,
  },
  {
    name: 'Sidecar host without namespace',
    kind: 'Sidecar',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: bad, namespace: shop }\nspec:\n  egress: [{ hosts: [reviews.shop.svc.cluster.local] }]\n',
    field: 'spec.egress[0].hosts[0]',
    reason: /must be namespace\/dnsName/,
  },
  {
    name: 'Gateway HTTPS without tls',
    kind: 'Gateway',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: bad, namespace: shop }\nspec:\n  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*"] }]\n',
    field: 'spec.servers[0].tls',
    reason: /HTTPS server requires tls/,
  },
  {
    name: 'Gateway invalid port',
    kind: 'Gateway',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: bad, namespace: shop }\nspec:\n  servers: [{ port: { number: -1, name: http, protocol: HTTP }, hosts: ["*"] }]\n',
    field: 'spec.servers[0].port.number',
    reason: /invalid port -1/,
  },
  {
    name: 'HTTPRoute without parentRefs',
    kind: 'HTTPRoute',
    yaml: 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: bad, namespace: shop }\nspec:\n  rules: [{ backendRefs: [{ name: reviews, port: 9080 }] }]\n',
    field: 'spec.parentRefs',
    reason: /at least one parentRef/,
  },
  {
    name: 'unserved apiVersion',
    kind: 'VirtualService',
    yaml: 'apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: { name: bad, namespace: shop }\nspec:\n  hosts: [reviews]\n',
    field: 'apiVersion',
    reason: /networking\.istio\.io\/v2 is not served for VirtualService/,
  },
  {
    name: 'missing spec',
    kind: 'DestinationRule',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: bad, namespace: shop }\n',
    field: 'spec',
    reason: /required field is missing/,
  },
  {
    name: 'Deployment template with a non-string label',
    kind: 'Deployment',
    yaml: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: bad, namespace: shop }\nspec:\n  template: { metadata: { labels: { version: 1.0 } } }\n',
    field: 'spec.template.metadata.labels.version',
    reason: /must be a string/,
  },
];

describe('validation: rejections name kind/ns/name, field and reason', () => {
  it.each(CASES)('$name', ({ yaml, kind, field, reason }) => {
    const objects = yamlObjects(`${NS}---\n${yaml}`);
    const result = translate(objects);
    const mine = result.rejected.filter((r) => r.name === 'bad');
    expect(mine.length, result.rejected.map(formatRejection).join('\n')).toBeGreaterThan(0);
    const hit = mine.find((r) => r.field === field);
    expect(hit, `got: ${mine.map(formatRejection).join(' | ')}`).toBeDefined();
    expect(hit?.kind).toBe(kind);
    expect(hit?.namespace).toBe('shop');
    expect(hit?.reason).toMatch(reason);
    expect(formatRejection(hit ?? { kind: '', name: '', reason: '' })).toBe(
      `${kind}/shop/bad: ${field}: ${hit?.reason}`,
    );
    // nothing else is rejected, and the rest still translates
    expect(result.rejected.filter((r) => r.name !== 'bad')).toEqual([]);
    expect(result.snapshot.services.map((s) => s.name)).toContain('reviews');
    // the rejected object is left out of everything
    const json = JSON.stringify({
      s: result.snapshot,
      w: [...result.waypoints.values()],
      g: [...result.gateways.values()],
    });
    expect(json).not.toMatch(/shop\/bad\b|"bad"/);
  });

  it('a valid object of each kind next to the invalid ones is not rejected', () => {
    const objects = yamlObjects(
      `${NS}---\n${vs('- route: [{ destination: { host: reviews, subset: v1 } }]\n  timeout: 1.5s')}`,
    );
    expect(translate(objects).rejected).toEqual([]);
  });

  it('parses Go-style durations', () => {
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('1h2m3s')).toBe(3_723_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('100us')).toBeCloseTo(0.1);
    for (const bad of ['1.5x', '10', 's', '', '-1s', '1 s']) expect(parseDurationMs(bad)).toBeUndefined();
  });

  it('rejects a second mesh VirtualService for the same host (the older one wins)', () => {
    const two = yamlObjects(`${NS}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: first, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z" }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: second, namespace: shop, creationTimestamp: "2024-02-01T00:00:00Z" }
spec: { hosts: [reviews.shop.svc.cluster.local], http: [{ route: [{ destination: { host: reviews, subset: v1 } }] }] }
`);
    const result = translate(two);
    expect(result.rejected.map(formatRejection)).toEqual([
      'VirtualService/shop/second: spec.hosts[0]: host reviews.shop.svc.cluster.local is already routed on the mesh by VirtualService shop/first (older); merge them into one (Istio IST0109)',
    ]);
  });

  it('reports a namespace whose waypoint does not exist', () => {
    const objects = yamlObjects(
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: lonely, labels: { mesh-waypoint: wp } }\n',
    );
    expect(translate(objects).rejected.map(formatRejection)).toEqual([
      'Namespace/lonely: metadata.labels.mesh-waypoint: waypoint Gateway lonely/wp of class ambit-waypoint not found',
    ]);
  });
});
