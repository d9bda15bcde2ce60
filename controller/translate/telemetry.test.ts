// Telemetry resources through the translator (scopes, providers, expressions, refusals with the
// field) and the owning workload's name derived as Istio derives `*_workload`.
import { describe, expect, it } from 'vitest';
import { translate } from './index.js';
import { yamlObjects } from './testdata/load.js';
import { podWorkloadName } from './workloads.js';

const MESH = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    extensionProviders:
      - name: file-log
        envoyFileAccessLog: { path: /tmp/ambit-access.log }
      - name: otel-als
        envoyOtelAls: { service: otel.istio-system.svc.cluster.local, port: 4317 }
      - name: text-log
        envoyFileAccessLog: { path: /dev/stdout, logFormat: { text: "%REQ(:METHOD)%\\n" } }
`;

const telemetry = (ns: string, name: string, spec: string): string => `---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}`;

describe('Telemetry translation', () => {
  it('mesh, namespace and workload scopes with their settings, in the mesh settings', () => {
    const r = translate(
      yamlObjects(
        MESH +
          telemetry('istio-system', 'mesh-default', '  accessLogging: [{ providers: [{ name: envoy }] }]\n') +
          telemetry(
            'shop',
            'ns',
            `  metrics:
    - providers: [{ name: prometheus }]
      overrides:
        - match: { metric: REQUEST_COUNT, mode: SERVER }
          tagOverrides:
            request_host: { value: request.host }
            user: { value: "request.headers['x-user']" }
            response_flags: { operation: REMOVE }
        - match: { metric: REQUEST_DURATION }
          disabled: true
  tracing: [{ randomSamplingPercentage: 25 }]
`,
          ) +
          telemetry(
            'shop',
            'payments',
            `  selector: { matchLabels: { app: payments } }
  accessLogging:
    - providers: [{ name: file-log }]
      filter: { expression: "response.code >= 500" }
`,
          ),
      ),
    );
    expect(r.rejected).toEqual([]);
    const t = r.snapshot.mesh.telemetry!;
    expect(t.map((p) => [p.key, p.scope.level])).toEqual([
      ['istio-system/mesh-default', 'mesh'],
      ['shop/ns', 'namespace'],
      ['shop/payments', 'workload'],
    ]);
    expect(t[0]!.accessLogging).toEqual([
      { mode: 'CLIENT_AND_SERVER', sinks: [{ provider: 'envoy', path: '/dev/stdout' }] },
    ]);
    expect(t[1]!.metrics).toEqual([
      {
        metrics: ['REQUEST_COUNT'],
        mode: 'SERVER',
        tags: [
          { tag: 'request_host', operation: 'UPSERT', value: { attribute: 'request.host' } },
          { tag: 'user', operation: 'UPSERT', value: { requestHeader: 'x-user' } },
          { tag: 'response_flags', operation: 'REMOVE' },
        ],
      },
      { metrics: ['REQUEST_DURATION'], mode: 'CLIENT_AND_SERVER', disabled: true, tags: [] },
    ]);
    expect(t[1]!.tracing).toEqual([{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 25 }]);
    expect(t[2]!.scope.selector).toEqual({ app: 'payments' });
    expect(t[2]!.accessLogging![0]!.sinks).toEqual([{ provider: 'file-log', path: '/tmp/ambit-access.log' }]);
    expect(t[2]!.accessLogging![0]!.filter?.anyOf).toEqual([[{ op: '>=', value: 500 }]]);
    // The waypoint config carries the same mesh settings.
    expect(r.snapshot.mesh.telemetry).toBe(t);
  });

  it.each([
    [
      'an expression Ambit cannot evaluate',
      `  metrics: [{ overrides: [{ tagOverrides: { x: { value: "upstream_peer.labels['app'].value" } } }] }]\n`,
      'spec.metrics[0].overrides[0].tagOverrides.x.value',
      /is not supported: Ambit evaluates/,
    ],
    [
      'a filter on other attributes',
      `  accessLogging: [{ filter: { expression: "request.path == '/x'" } }]\n`,
      'spec.accessLogging[0].filter.expression',
      /response.code comparisons/,
    ],
    [
      'an access log provider of another kind',
      `  accessLogging: [{ providers: [{ name: otel-als }] }]\n`,
      'spec.accessLogging[0].providers[0].name',
      /envoyOtelAls.*not served/,
    ],
    [
      'a file provider with a logFormat',
      `  accessLogging: [{ providers: [{ name: text-log }] }]\n`,
      'spec.accessLogging[0].providers[0].name',
      /logFormat, which Ambit does not apply/,
    ],
    [
      'an undefined provider',
      `  accessLogging: [{ providers: [{ name: nope }] }]\n`,
      'spec.accessLogging[0].providers[0].name',
      /not defined in meshConfig extensionProviders/,
    ],
    [
      'a metrics provider other than prometheus',
      `  metrics: [{ providers: [{ name: stackdriver }] }]\n`,
      'spec.metrics[0].providers[0].name',
      /Prometheus/,
    ],
    [
      'an unknown metric',
      `  metrics: [{ overrides: [{ match: { metric: REQUEST_COUNTS }, disabled: true }] }]\n`,
      'spec.metrics[0].overrides[0].match.metric',
      /unknown value "REQUEST_COUNTS"/,
    ],
    [
      'an unknown field',
      `  tracing: [{ randomSamplingPercent: 10 }]\n`,
      'spec.tracing[0].randomSamplingPercent',
      /unknown field/,
    ],
  ])('refuses %s, naming the field; the rest of the mesh stays', (_what, spec, field, reason) => {
    const r = translate(
      yamlObjects(MESH + telemetry('shop', 'bad', spec) + telemetry('shop', 'good', '  tracing: [{}]\n')),
    );
    expect(r.rejected.map((x) => [x.kind, x.name, x.field])).toEqual([['Telemetry', 'bad', field]]);
    expect(r.rejected[0]!.reason).toMatch(reason);
    expect(r.snapshot.mesh.telemetry?.map((p) => p.key)).toEqual(['shop/good']);
  });

  it('no Telemetry: the mesh settings are unchanged', () => {
    expect(translate(yamlObjects(MESH)).snapshot.mesh.telemetry).toBeUndefined();
  });
});

describe("the owning workload's name (Istio's *_workload)", () => {
  const pod = (name: string, extra: Record<string, unknown> = {}, labels: Record<string, string> = {}) => ({
    metadata: { name, namespace: 'shop', labels, ...extra },
  });
  const owned = (kind: string, name: string) => ({
    generateName: 'x-',
    ownerReferences: [
      { apiVersion: 'v1', kind: 'Other', name: 'not-controller' },
      { apiVersion: 'apps/v1', kind, name, controller: true },
    ],
  });
  it.each([
    [
      'a Deployment pod (ReplicaSet with the pod-template-hash)',
      pod('orders-7d9f-abcde', owned('ReplicaSet', 'orders-7d9f'), { 'pod-template-hash': '7d9f' }),
      'orders',
    ],
    ['a ReplicaSet of its own', pod('rs-abcde', owned('ReplicaSet', 'rs'), {}), 'rs'],
    ['a StatefulSet pod', pod('orders-0', owned('StatefulSet', 'orders')), 'orders'],
    ['a DaemonSet pod', pod('agent-x1', owned('DaemonSet', 'agent')), 'agent'],
    ['a CronJob pod', pod('report-28391040-abc', owned('Job', 'report-28391040')), 'report'],
    ['a Job pod', pod('migrate-abc', owned('Job', 'migrate')), 'migrate'],
    ['a bare pod', pod('debug'), 'debug'],
    [
      "Istio's label",
      pod('orders-0', owned('StatefulSet', 'orders'), { 'service.istio.io/workload-name': 'orders-db' }),
      'orders-db',
    ],
    [
      'a waypoint pod (its Gateway)',
      pod('waypoint-waypoint', {}, { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }),
      'waypoint',
    ],
  ])('%s', (_what, p, want) => {
    expect(podWorkloadName(p as never)).toBe(want);
  });

  it('reaches the model: a Deployment expanded in local mode, a pod with an owner', () => {
    const r = translate(
      yamlObjects(`${MESH}---
apiVersion: apps/v1
kind: Deployment
metadata: { name: orders, namespace: shop }
spec:
  replicas: 2
  template: { metadata: { labels: { app: orders } }, spec: {} }
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  generateName: db-
  labels: { app: db }
  ownerReferences: [{ apiVersion: apps/v1, kind: StatefulSet, name: db, controller: true, uid: u1 }]
`),
    );
    expect(r.snapshot.workloads.map((w) => [w.name, w.workloadName])).toEqual([
      ['db-0', 'db'],
      ['orders-0', 'orders'],
      ['orders-1', 'orders'],
    ]);
  });
});
