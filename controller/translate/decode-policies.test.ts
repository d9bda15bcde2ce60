// Security, Telemetry, WasmPlugin and mesh config objects are decoded against their schema:
// a value of the wrong type, an unknown field, a missing required field or a value outside an
// enum rejects the object, naming the object, the field path and the file:line it came from,
// and the rest of the mesh still translates.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate, type Rejection } from './index.js';
import { parseYamlFile } from '../sources/file-parse.js';
import { objectKey, type KubeObject, type ObjectOrigin } from '../sources/types.js';

const FILE = 'policies.yaml';

const BASE =
  [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: wp } }',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: wp, namespace: shop }\n' +
      'spec: { gatewayClassName: ambit-waypoint }',
    'apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: shop }\nspec: { ports: [{ name: http, port: 80 }] }',
  ].join('\n---\n') + '\n';

const AP = 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n';
const RA = 'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n';
const PA = 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n';
const TM = 'apiVersion: telemetry.istio.io/v1\nkind: Telemetry\n';
const WP = 'apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n';
const URL = 'url: file:///plugins/a.wasm';
const meta = (name: string): string => `metadata: { name: ${name}, namespace: shop }\n`;

interface Case {
  readonly what: string;
  readonly kind: string;
  readonly yaml: string;
  readonly field: string;
  readonly reason: RegExp;
}

const CASES: readonly Case[] = [
  {
    what: 'AuthorizationPolicy: a list where a map belongs',
    kind: 'AuthorizationPolicy',
    yaml: `${AP}${meta('bad')}spec: { rules: [{ from: [{ source: [principals] }] }] }\n`,
    field: 'spec.rules[0].from[0].source',
    reason: /must be an object, got array/,
  },
  {
    what: 'AuthorizationPolicy: `rule:` for `rules:`',
    kind: 'AuthorizationPolicy',
    yaml: `${AP}${meta('bad')}spec: { action: DENY, rule: [{ to: [{ operation: { paths: [/admin] } }] }] }\n`,
    field: 'spec.rule',
    reason: /unknown field "rule"/,
  },
  {
    what: 'AuthorizationPolicy: a condition without its key',
    kind: 'AuthorizationPolicy',
    yaml: `${AP}${meta('bad')}spec: { rules: [{ when: [{ values: [a] }] }] }\n`,
    field: 'spec.rules[0].when[0].key',
    reason: /required field is missing/,
  },
  {
    what: 'AuthorizationPolicy: an action Istio does not have',
    kind: 'AuthorizationPolicy',
    yaml: `${AP}${meta('bad')}spec: { action: REJECT }\n`,
    field: 'spec.action',
    reason: /unknown value "REJECT"/,
  },
  {
    what: 'AuthorizationPolicy: a port as a number where Istio takes strings',
    kind: 'AuthorizationPolicy',
    yaml: `${AP}${meta('bad')}spec: { rules: [{ to: [{ operation: { ports: [8080] } }] }] }\n`,
    field: 'spec.rules[0].to[0].operation.ports[0]',
    reason: /must be a string, got number 8080/,
  },
  {
    what: 'RequestAuthentication: a jwtRules typo',
    kind: 'RequestAuthentication',
    yaml: `${RA}${meta('bad')}spec: { jwtRules: [{ issuer: a, jwksUrl: "https://a/jwks" }] }\n`,
    field: 'spec.jwtRules[0].jwksUrl',
    reason: /unknown field "jwksUrl"/,
  },
  {
    what: 'RequestAuthentication: a header location without its name',
    kind: 'RequestAuthentication',
    yaml: `${RA}${meta('bad')}spec: { jwtRules: [{ issuer: a, fromHeaders: [{ prefix: "Bearer " }] }] }\n`,
    field: 'spec.jwtRules[0].fromHeaders[0].name',
    reason: /required field is missing/,
  },
  {
    what: 'RequestAuthentication: forwardOriginalToken as a string',
    kind: 'RequestAuthentication',
    yaml: `${RA}${meta('bad')}spec: { jwtRules: [{ issuer: a, forwardOriginalToken: "yes" }] }\n`,
    field: 'spec.jwtRules[0].forwardOriginalToken',
    reason: /must be a boolean, got string "yes"/,
  },
  {
    what: 'PeerAuthentication: `mTLS:` for `mtls:`',
    kind: 'PeerAuthentication',
    yaml: `${PA}${meta('bad')}spec: { mTLS: { mode: STRICT } }\n`,
    field: 'spec.mTLS',
    reason: /unknown field "mTLS"/,
  },
  {
    what: 'PeerAuthentication: a mode Istio does not have',
    kind: 'PeerAuthentication',
    yaml: `${PA}${meta('bad')}spec: { mtls: { mode: strict } }\n`,
    field: 'spec.mtls.mode',
    reason: /unknown value "strict"/,
  },
  {
    what: 'Telemetry: a sampling percentage as a string',
    kind: 'Telemetry',
    yaml: `${TM}${meta('bad')}spec: { tracing: [{ randomSamplingPercentage: "10" }] }\n`,
    field: 'spec.tracing[0].randomSamplingPercentage',
    reason: /must be a number, got string "10"/,
  },
  {
    what: 'Telemetry: a targetRef without its name',
    kind: 'Telemetry',
    yaml: `${TM}${meta('bad')}spec: { targetRef: { kind: Gateway } }\n`,
    field: 'spec.targetRef.name',
    reason: /required field is missing/,
  },
  {
    what: 'Telemetry: an unknown field in an override',
    kind: 'Telemetry',
    yaml: `${TM}${meta('bad')}spec: { metrics: [{ overrides: [{ disable: true }] }] }\n`,
    field: 'spec.metrics[0].overrides[0].disable',
    reason: /unknown field "disable"/,
  },
  {
    what: 'WasmPlugin: no url',
    kind: 'WasmPlugin',
    yaml: `${WP}${meta('bad')}spec: { targetRefs: [{ kind: Gateway, name: wp }] }\n`,
    field: 'spec.url',
    reason: /required field is missing/,
  },
  {
    what: 'WasmPlugin: a priority as a string',
    kind: 'WasmPlugin',
    yaml: `${WP}${meta('bad')}spec: { ${URL}, priority: "10" }\n`,
    field: 'spec.priority',
    reason: /must be an integer, got string "10"/,
  },
  {
    what: 'WasmPlugin: an unknown field',
    kind: 'WasmPlugin',
    yaml: `${WP}${meta('bad')}spec: { ${URL}, failstrategy: FAIL_OPEN }\n`,
    field: 'spec.failstrategy',
    reason: /unknown field "failstrategy"/,
  },
  {
    what: 'RequestAuthentication: a claim to header without its claim',
    kind: 'RequestAuthentication',
    yaml: `${RA}${meta('bad')}spec: { jwtRules: [{ issuer: a, outputClaimToHeaders: [{ header: x-sub }] }] }\n`,
    field: 'spec.jwtRules[0].outputClaimToHeaders[0].claim',
    reason: /required field is missing/,
  },
  {
    what: 'Telemetry: a metric Istio does not have',
    kind: 'Telemetry',
    yaml: `${TM}${meta('bad')}spec: { metrics: [{ overrides: [{ match: { metric: REQUESTS }, disabled: true }] }] }\n`,
    field: 'spec.metrics[0].overrides[0].match.metric',
    reason: /unknown value "REQUESTS"/,
  },
  {
    what: 'Telemetry: a custom tag of no known source',
    kind: 'Telemetry',
    yaml: `${TM}${meta('bad')}spec: { tracing: [{ customTags: { team: { literl: { value: a } } } }] }\n`,
    field: 'spec.tracing[0].customTags.team.literl',
    reason: /unknown field "literl"/,
  },
  {
    what: 'WasmPlugin: pluginConfig that is not a map',
    kind: 'WasmPlugin',
    yaml: `${WP}${meta('bad')}spec: { ${URL}, pluginConfig: "deny=/admin" }\n`,
    field: 'spec.pluginConfig',
    reason: /must be an object, got string/,
  },
  {
    what: 'WasmPlugin: FAIL_RELOAD, which Ambit cannot honour',
    kind: 'WasmPlugin',
    yaml: `${WP}${meta('bad')}spec: { ${URL}, failStrategy: FAIL_RELOAD }\n`,
    field: 'spec.failStrategy',
    reason: /FAIL_RELOAD is not supported by Ambit/,
  },
];

/** Objects of `text` as `ambitctl` and the controller read a file: with their origins. */
function load(text: string): { objects: KubeObject[]; origins: Map<string, ObjectOrigin> } {
  const parsed = parseYamlFile(text, FILE);
  expect(parsed.problems).toEqual([]);
  const objects = parsed.documents.map((d) => d.object);
  const origins = new Map(parsed.documents.map((d) => [objectKey(d.object), d.origin] as const));
  return { objects, origins };
}

/** The 1-based line of the `apiVersion:` that starts the document holding `metadata: { name: <name>, ...`. */
function lineOf(text: string, name: string): number {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`metadata: { name: ${name},`));
  let start = at;
  while (start > 0 && !lines[start]!.startsWith('apiVersion:')) start--;
  return start + 1;
}

function rejectedOf(rejected: readonly Rejection[], name: string): Rejection[] {
  return rejected.filter((r) => r.name === name);
}

describe('decoded security, Telemetry and WasmPlugin objects: rejections name object, field and file:line', () => {
  it.each(CASES)('$what', ({ kind, yaml, field, reason }) => {
    const text = `${BASE}---\n${yaml}`;
    const { objects, origins } = load(text);
    const result = translate(objects, { origins });
    const mine = rejectedOf(result.rejected, 'bad');
    expect(mine.map(formatRejection)).toHaveLength(1);
    const [hit] = mine;
    expect(hit).toMatchObject({ kind, namespace: 'shop', field, origin: { file: FILE, line: lineOf(text, 'bad') } });
    expect(hit!.reason).toMatch(reason);
    expect(formatRejection(hit!)).toBe(`${kind}/shop/bad: ${field}: ${hit!.reason} (${FILE}:${lineOf(text, 'bad')})`);
    expect(result.rejected.filter((r) => r.name !== 'bad')).toEqual([]);
    expect(result.snapshot.services.map((s) => s.name)).toContain('api');
  });

  it('a rejected policy is left out of the model; a valid one next to it is kept', () => {
    const text =
      `${BASE}---\n${AP}${meta('bad')}spec: { action: DENY, rule: [{ to: [{ operation: { paths: [/admin] } }] }] }\n` +
      `---\n${AP}${meta('good')}spec: { action: DENY, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }\n`;
    const { objects, origins } = load(text);
    const { snapshot, rejected } = translate(objects, { origins });
    expect(rejected.map((r) => [r.name, r.field])).toEqual([['bad', 'spec.rule']]);
    expect(snapshot.authorizationPolicies.map((p) => p.key)).toEqual(['shop/good']);
  });
});

describe("fields of Istio's current API are accepted", () => {
  it('jwks_uri is read as jwksUri; spaceDelimitedClaims, enableIstioTags and disableContextPropagation decode', () => {
    const text =
      `${BASE}---\n${RA}${meta('old-spelling')}` +
      'spec: { jwtRules: [{ issuer: a, jwks_uri: "https://idp.example/jwks", spaceDelimitedClaims: [roles] }] }\n' +
      `---\n${TM}${meta('tags')}spec: { tracing: [{ enableIstioTags: false, disableContextPropagation: true }] }\n`;
    const { objects, origins } = load(text);
    const { snapshot, rejected, waypoints } = translate(objects, { origins });
    expect(rejected).toEqual([]);
    expect(snapshot.mesh.telemetry?.map((p) => p.key)).toEqual(['shop/tags']);
    const rules = waypoints.get('shop')?.requestAuthentications?.flatMap((r) => r.jwtRules) ?? [];
    expect(rules).toEqual([{ issuer: 'a', jwksUri: 'https://idp.example/jwks' }]);
  });

  it('jwksUri and jwks_uri together are refused', () => {
    const text = `${BASE}---\n${RA}${meta('bad')}spec: { jwtRules: [{ issuer: a, jwksUri: "https://a/j", jwks_uri: "https://a/j" }] }\n`;
    const { objects, origins } = load(text);
    expect(translate(objects, { origins }).rejected.map((r) => [r.name, r.field])).toEqual([
      ['bad', 'spec.jwtRules[0].jwks_uri'],
    ]);
  });
});

describe('the mesh ConfigMap is decoded against the MeshConfig fields Ambit reads', () => {
  const configMap = (mesh: string): string =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: istio, namespace: istio-system }\ndata:\n  mesh: |\n${mesh.replace(/^/gm, '    ')}\n`;

  it.each([
    [
      'a provider without its name',
      'extensionProviders: [{ envoyExtAuthzHttp: { service: a, port: 80 } }]',
      'data.mesh.extensionProviders[0].name',
      /required field is missing/,
    ],
    [
      'a port that is a list',
      'extensionProviders: [{ name: a, envoyExtAuthzHttp: { service: a, port: [80] } }]',
      'data.mesh.extensionProviders[0].envoyExtAuthzHttp.port',
      /must be an integer or a string/,
    ],
    ['jwksAllowHttp as a string', 'jwksAllowHttp: "yes"', 'data.mesh.jwksAllowHttp', /must be a boolean/],
    [
      'an outbound mode Istio does not have',
      'outboundTrafficPolicy: { mode: ALLOW_SOME }',
      'data.mesh.outboundTrafficPolicy.mode',
      /unknown value "ALLOW_SOME"/,
    ],
  ])('rejects %s, naming the field and file:line; the defaults stay', (_what, mesh, field, reason) => {
    const text = `${BASE}---\n${configMap(`trustDomain: corp.example\n${mesh}`)}`;
    const { objects, origins } = load(text);
    const result = translate(objects, { origins });
    expect(result.rejected.map((r) => [r.kind, r.name, r.field])).toEqual([['ConfigMap', 'istio', field]]);
    expect(result.rejected[0]!.reason).toMatch(reason);
    expect(result.rejected[0]!.origin).toEqual({ file: FILE, line: lineOf(text, 'istio') });
    expect(result.snapshot.mesh.trustDomain).toBe('cluster.local');
  });

  it('keeps MeshConfig fields Ambit does not read, and reads the ones it does', () => {
    const text = `${BASE}---\n${configMap(
      'trustDomain: corp.example\nenableTracing: true\naccessLogFile: /dev/stdout\n' +
        'extensionProviders:\n  - name: opa\n    envoyExtAuthzHttp: { service: opa.authz, port: "8181", statusOnError: "503" }\n',
    )}`;
    const { objects, origins } = load(text);
    const result = translate(objects, { origins });
    expect(result.rejected).toEqual([]);
    expect(result.snapshot.mesh.trustDomain).toBe('corp.example');
    expect(result.snapshot.mesh.extensionProviders).toEqual([
      { name: 'opa', envoyExtAuthzHttp: { service: 'opa.authz', port: 8181, statusOnError: 503 } },
    ]);
  });
});
