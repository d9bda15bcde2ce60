// Property-based tests of the CRD translator: objects of every kind it reads, taken from the
// test meshes and corrupted (a field replaced by any value YAML can produce, removed, or an
// array element repeated), and objects of each kind with arbitrary specs. translate() never
// throws, finishes quickly, and an object it cannot use is a rejection naming it.
import { beforeAll, describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { metadataProblem } from '../sources/file-parse.js';
import type { KubeObject } from '../sources/types.js';
import { translate } from './index.js';
import { loadTestdata, yamlObjects } from './testdata/load.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Kinds without an example in the test meshes. */
const EXTRA = yamlObjects(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec: {hosts: [api.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS, location: MESH_EXTERNAL}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}, egress: [{hosts: ["./*"]}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: vms, namespace: shop}
spec: {metadata: {labels: {app: vm}}, template: {serviceAccount: vm, ports: {http: 8080}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: shop, annotations: {istio.io/autoRegistrationGroup: vms}}
spec: {address: 10.9.0.1, labels: {app: vm}, serviceAccount: vm}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec: {parentRefs: [{name: orders, kind: Service, group: ""}], rules: [{matches: [{path: {type: PathPrefix, value: /a}}], backendRefs: [{name: orders, port: 80}]}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orders-1, namespace: shop, labels: {kubernetes.io/service-name: orders}}
addressType: IPv4
endpoints: [{addresses: [10.1.0.9], conditions: {ready: true}, targetRef: {kind: Pod, name: p, namespace: shop}}]
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: z1}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data: {mesh: "trustDomain: cluster.local\\noutboundTrafficPolicy: {mode: ALLOW_ANY}\\n"}
`);

/** Values a YAML document can hold (YAML also gives .inf and .nan). */
const yamlValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue() as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(
    Infinity as unknown as Json,
    -Infinity as unknown as Json,
    NaN as unknown as Json,
    -1,
    0,
    1e9,
    2 ** 53,
    65536,
    1.5,
    '',
    '*',
    '/',
    '..',
    'a'.repeat(300),
    '10.0.0.1',
    '::1',
    '0.0.0.0/0',
    'spiffe://cluster.local/ns/a/sa/b',
    [],
    {},
    null,
  ),
);

function pathsOf(
  value: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (prefix.length > 0) out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}

type Mutation =
  { op: 'set'; at: number; value: Json } | { op: 'delete'; at: number } | { op: 'repeat'; at: number; times: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: yamlValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), times: fc.integer({ min: 2, max: 50 }) }),
  },
);

/** The sources guarantee string apiVersion and kind and an object metadata (isKubeObject); anything below is open. */
const FIXED = new Set(['apiVersion', 'kind', 'metadata']);

function mutate(obj: KubeObject, m: Mutation): KubeObject {
  const copy = structuredClone(obj) as unknown as Json;
  const paths = pathsOf(copy).filter((p) => p.length > 1 || !FIXED.has(String(p[0])));
  if (paths.length === 0) return obj;
  const path = paths[m.at % paths.length]!;
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (m.op === 'set') parent[last] = m.value;
  else if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (Array.isArray(parent)) {
    parent.splice(
      last as number,
      0,
      ...Array.from({ length: m.times }, () => structuredClone(parent[last as number]!)),
    );
  } else parent[last] = Array.from({ length: m.times }, () => structuredClone(parent[last]!));
  return copy as unknown as KubeObject;
}

function translateChecked(objects: KubeObject[]): void {
  // What a source would never hand over (the API server, or the file source's metadata check).
  const accepted = objects.filter((o) => metadataProblem(o) === undefined);
  const t0 = performance.now();
  const result = translate(accepted);
  expect(performance.now() - t0).toBeLessThan(5_000);
  expect(result.snapshot).toBeDefined();
  for (const r of result.rejected) {
    expect(typeof r.kind === 'string' && typeof r.name === 'string' && typeof r.reason === 'string').toBe(true);
  }
}

describe('CRD translator (fuzz)', () => {
  let seeds: KubeObject[];
  beforeAll(async () => {
    seeds = [...(await loadTestdata('coffee-shop')), ...(await loadTestdata('coffee-shop-l7')), ...EXTRA];
    translateChecked(seeds);
  });

  it.prop(
    [
      fc.array(fc.record({ seed: fc.nat(), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
    ],
    fuzzParams({ quick: 150 }),
  )(
    'corrupted objects of the test meshes only ever produce rejections',
    (changes) => {
      const objects = [...seeds];
      for (const c of changes) {
        const i = c.seed % objects.length;
        objects[i] = c.mutations.reduce(mutate, objects[i]!);
      }
      translateChecked(objects);
    },
    fuzzTimeout(120_000),
  );

  const kinds = [
    ['v1', 'Namespace'],
    ['v1', 'Node'],
    ['v1', 'Pod'],
    ['v1', 'Service'],
    ['v1', 'ServiceAccount'],
    ['apps/v1', 'Deployment'],
    ['discovery.k8s.io/v1', 'EndpointSlice'],
    ['networking.istio.io/v1', 'VirtualService'],
    ['networking.istio.io/v1', 'DestinationRule'],
    ['networking.istio.io/v1', 'ServiceEntry'],
    ['networking.istio.io/v1', 'Gateway'],
    ['networking.istio.io/v1', 'Sidecar'],
    ['networking.istio.io/v1', 'WorkloadEntry'],
    ['networking.istio.io/v1', 'WorkloadGroup'],
    ['security.istio.io/v1', 'AuthorizationPolicy'],
    ['security.istio.io/v1', 'PeerAuthentication'],
    ['security.istio.io/v1', 'RequestAuthentication'],
    ['gateway.networking.k8s.io/v1', 'Gateway'],
    ['gateway.networking.k8s.io/v1', 'HTTPRoute'],
    ['v1', 'ConfigMap'],
  ] as const;
  const arbitraryObject: fc.Arbitrary<KubeObject> = fc
    .record({
      kind: fc.constantFrom(...kinds),
      name: fc.oneof(fc.constantFrom('a', 'orders', 'istio', 'default'), fc.string({ maxLength: 20 })),
      namespace: fc.oneof(
        fc.constantFrom('shop', 'istio-system', 'default'),
        fc.string({ maxLength: 10 }),
        fc.constant(undefined),
      ),
      labels: fc.option(
        fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(fc.string({ maxLength: 20 }), yamlValue), { maxKeys: 3 }),
        { nil: undefined },
      ),
      spec: yamlValue,
      extra: fc.dictionary(fc.constantFrom('data', 'endpoints', 'ports', 'addressType', 'status'), yamlValue, {
        maxKeys: 2,
      }),
    })
    .map(
      ({ kind: [apiVersion, kind], name, namespace, labels, spec, extra }) =>
        ({
          apiVersion,
          kind,
          metadata: { name, ...(namespace !== undefined ? { namespace } : {}), ...(labels ? { labels } : {}) },
          spec,
          ...extra,
        }) as unknown as KubeObject,
    );

  it.prop(
    [fc.array(arbitraryObject, { maxLength: 6 })],
    fuzzParams<[KubeObject[]]>({
      quick: 300,
      examples: [
        // found by this property: a Deployment's replicas were expanded without bound (local mode)
        [
          [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'd', namespace: 'shop' },
              spec: { replicas: 1e9 },
            },
          ],
        ],
      ],
    }),
  )(
    'objects of every kind with arbitrary specs only ever produce rejections',
    (objects) => {
      translateChecked([...seeds.slice(0, 5), ...objects]);
    },
    fuzzTimeout(120_000),
  );
});
