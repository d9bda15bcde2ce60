// One case per analyzer, from Istio's documented messages (istio.io "Configuration Analysis
// Messages"): the code, the level, the object blamed and the text Istio gives.
import { describe, expect, it } from 'vitest';
import { yamlObjects } from '../translate/testdata/load.js';
import { analyze, formatMessage, messageRecord, UNSUPPORTED_FIELDS, type Message } from './index.js';

const BASE = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-1, namespace: shop, labels: { app: reviews, version: v1 } }
spec: { nodeName: n1 }
status: { podIP: 10.1.0.5 }
---
apiVersion: v1
kind: Pod
metadata: { name: ingress-1, namespace: istio-system, labels: { istio: ingressgateway } }
spec: { nodeName: n1 }
status: { podIP: 10.1.0.9 }
---
apiVersion: v1
kind: Service
metadata: { name: ingress, namespace: istio-system }
spec: { selector: { istio: ingressgateway }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }] }
`;

function run(yaml: string): Message[] {
  return analyze(yamlObjects(`${BASE}---\n${yaml}`));
}

function only(messages: Message[], code: string): Message[] {
  return messages.filter((m) => m.type.code === code);
}

const gateway = (
  name: string,
  servers: string,
  selector = '{ istio: ingressgateway }',
): string => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: shop }
spec:
  selector: ${selector}
  servers: ${servers}
`;

describe('analyze: Istio analyzers', () => {
  it('the base mesh has no findings', () => {
    expect(run('').map(formatMessage)).toEqual([]);
  });

  it('IST0101: missing host, subset and gateway (Error)', () => {
    const m = only(
      run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: shop }
spec:
  hosts: [reviews]
  gateways: [bogus-gateway, mesh]
  http: [{ route: [{ destination: { host: ratings } }, { destination: { host: reviews, subset: v9 } }] }]
`),
      'IST0101',
    );
    expect(m.map((x) => [x.type.level, x.field, x.text.split(' (')[0]])).toEqual([
      ['Error', 'spec.gateways[0]', 'Referenced gateway not found: "bogus-gateway"'],
      ['Error', 'spec.http[0].route[0].destination.host', 'Referenced host not found: "ratings"'],
      [
        'Error',
        'spec.http[0].route[1].destination.subset',
        'Referenced host+subset in destinationrule not found: "reviews+v9"',
      ],
    ]);
  });

  it('IST0104: a Gateway port the selected workloads do not expose (Warning)', () => {
    const m = only(
      run(
        gateway(
          'gw',
          '[{ port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*"], tls: { mode: SIMPLE, credentialName: c } }]',
        ),
      ),
      'IST0104',
    );
    expect(m.map((x) => [x.type.level, x.text])).toEqual([
      [
        'Warning',
        'The gateway refers to a port that is not exposed on the workload (pod selector istio=ingressgateway; port 443)',
      ],
    ]);
    expect(
      only(run(gateway('gw', '[{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["*"] }]')), 'IST0104'),
    ).toEqual([]);
  });

  it('IST0101: a Gateway selector that matches no workload', () => {
    const m = only(
      run(gateway('gw', '[{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]', '{ istio: nothing }')),
      'IST0101',
    );
    expect(m.map((x) => x.text)).toEqual(['Referenced selector not found: "istio=nothing"']);
  });

  it('IST0106: schema validation errors carry the field (Error)', () => {
    const m = only(
      run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: pa, namespace: shop }
spec: { mTLS: { mode: STRICT } }
`),
      'IST0106',
    );
    expect(m.map((x) => [x.type.level, x.field, x.text])).toEqual([
      ['Error', 'spec.mTLS', 'Schema validation error: spec.mTLS: unknown field "mTLS"'],
    ]);
  });

  it('IST0109: two mesh VirtualServices for one host, each message naming both (Error)', () => {
    const vs = (name: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: shop }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews } }] }] }
`;
    const m = only(run(`${vs('a')}---\n${vs('b')}`), 'IST0109');
    expect(m.map((x) => [x.type.level, x.origin.name])).toEqual([
      ['Error', 'a'],
      ['Error', 'b'],
    ]);
    for (const x of m) {
      expect(x.text).toBe(
        'The VirtualServices shop/a,shop/b associated with mesh gateway define the same host reviews.shop.svc.cluster.local ' +
          'which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.',
      );
    }
  });

  it('IST0110 and IST0111: Sidecars that select the same pod, or several without selector (Error)', () => {
    const sc = (name: string, sel: string): string => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: ${name}, namespace: shop }
spec: { ${sel}egress: [{ hosts: ["./*"] }] }
`;
    const m = run(
      [
        sc('s1', 'workloadSelector: { labels: { app: reviews } }, '),
        sc('s2', 'workloadSelector: { labels: { version: v1 } }, '),
        sc('g1', ''),
        sc('g2', ''),
      ].join('---\n'),
    );
    expect(only(m, 'IST0110').map((x) => [x.type.level, x.origin.name, x.text])).toEqual([
      [
        'Error',
        's1',
        'The Sidecars [shop/s1, shop/s2] in namespace "shop" select the same workload pod "reviews-1", which can lead to undefined behavior.',
      ],
      [
        'Error',
        's2',
        'The Sidecars [shop/s1, shop/s2] in namespace "shop" select the same workload pod "reviews-1", which can lead to undefined behavior.',
      ],
    ]);
    expect(only(m, 'IST0111').map((x) => [x.type.level, x.origin.name, x.text])).toEqual([
      [
        'Error',
        'g1',
        'The Sidecars [shop/g1, shop/g2] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
      ],
      [
        'Error',
        'g2',
        'The Sidecars [shop/g1, shop/g2] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
      ],
    ]);
  });

  it('IST0127: a policy selector that matches no workload (Warning)', () => {
    const m = only(
      run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: shop }
spec: { selector: { matchLabels: { app: ratings } }, rules: [{}] }
`),
      'IST0127',
    );
    expect(m.map((x) => [x.type.level, x.text])).toEqual([
      ['Warning', 'No matching workloads for this resource with the following labels: app=ratings'],
    ]);
  });

  it('IST0128 and IST0129: TLS without caCertificates at destination and port level (Warning)', () => {
    const m = run(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ext, namespace: shop }
spec:
  host: api.example.com
  trafficPolicy:
    tls: { mode: SIMPLE }
    portLevelSettings: [{ port: { number: 8443 }, tls: { mode: MUTUAL, clientCertificate: /c, privateKey: /k } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: shop }
spec: { hosts: [api.example.com], ports: [{ number: 443, name: https, protocol: HTTPS }], resolution: DNS }
`);
    expect(only(m, 'IST0128').map((x) => [x.type.level, x.text])).toEqual([
      [
        'Warning',
        'DestinationRule ext in namespace shop has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: api.example.com',
      ],
    ]);
    expect(only(m, 'IST0129').map((x) => [x.type.level, x.text])).toEqual([
      [
        'Warning',
        'DestinationRule ext in namespace shop has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: api.example.com at port 8443',
      ],
    ]);
  });

  it('IST0130 and IST0131: a rule after a catch-all, a rule whose matches were all taken, a duplicate match', () => {
    const m = run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - { name: a, match: [{ uri: { prefix: /a } }], route: [{ destination: { host: reviews } }] }
    - { name: b, match: [{ uri: { prefix: /a } }], route: [{ destination: { host: reviews } }] }
    - { name: c, match: [{ uri: { prefix: /c } }, { name: dup, uri: { prefix: /a } }], route: [{ destination: { host: reviews } }] }
    - { name: all, route: [{ destination: { host: reviews } }] }
    - { name: late, match: [{ uri: { prefix: /z } }], route: [{ destination: { host: reviews } }] }
`);
    expect(only(m, 'IST0130').map((x) => [x.type.level, x.text])).toEqual([
      ['Warning', 'VirtualService rule b not used (duplicate/overlapping match in rule a).'],
      ['Warning', 'VirtualService rule late not used (only the last rule can have no matches).'],
    ]);
    expect(only(m, 'IST0131').map((x) => [x.type.level, x.text])).toEqual([
      ['Info', 'VirtualService rule c match dup is not used (duplicate/overlapping match in rule a).'],
    ]);
  });

  it('IST0132: a VirtualService host its Gateway does not serve (Warning)', () => {
    const m = only(
      run(`${gateway('gw', '[{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["shop.example.com"] }]')}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge, namespace: shop }
spec:
  hosts: [other.example.com]
  gateways: [gw]
  http: [{ route: [{ destination: { host: reviews } }] }]
`),
      'IST0132',
    );
    expect(m.map((x) => [x.type.level, x.text])).toEqual([
      [
        'Warning',
        'one or more host [other.example.com] defined in VirtualService shop/edge not found in Gateway shop/gw.',
      ],
    ]);
  });

  it('IST0134: a TCP ServiceEntry without addresses (Warning)', () => {
    const m = only(
      run(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db, namespace: shop }
spec: { hosts: [db.example.com], ports: [{ number: 5432, name: pg, protocol: TCP }], resolution: DNS }
`),
      'IST0134',
    );
    expect(m.map((x) => [x.type.level, x.text.split(' (')[0]])).toEqual([
      ['Warning', 'ServiceEntry addresses are required for this protocol.'],
    ]);
  });

  it('IST0145: two Gateways with one selector, port and host (Error)', () => {
    const server = '[{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["shop.example.com"] }]';
    const m = only(run(`${gateway('gw1', server)}---\n${gateway('gw2', server)}`), 'IST0145');
    expect(m.map((x) => [x.type.level, x.origin.name, x.text])).toEqual([
      [
        'Error',
        'gw1',
        'Conflict with gateways shop/gw2 (workload selector istio=ingressgateway, port 8080, hosts shop.example.com).',
      ],
      [
        'Error',
        'gw2',
        'Conflict with gateways shop/gw1 (workload selector istio=ingressgateway, port 8080, hosts shop.example.com).',
      ],
    ]);
  });
});

describe('analyze: what Ambit does not apply', () => {
  it('EnvoyFilter is named as Envoy-specific and points to WasmPlugin; ProxyConfig is not applied; WasmPlugin is', () => {
    const m = only(
      run(`apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: lua, namespace: shop }
spec: { configPatches: [{ applyTo: HTTP_FILTER, patch: { operation: INSERT_BEFORE } }] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: mesh-default, namespace: istio-system }
spec: { accessLogging: [{ providers: [{ name: envoy }] }] }
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: plugin, namespace: shop }
spec: { url: "oci://example/plugin:1" }
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: { name: pc, namespace: shop }
spec: { concurrency: 2 }
`),
      'AMB0001',
    );
    expect(m.map((x) => `${x.type.level} ${x.origin.kind} ${x.origin.name}`)).toEqual([
      'Warning EnvoyFilter lua',
      'Warning ProxyConfig pc',
    ]);
    expect(m[0]?.text).toMatch(/Envoy.*WasmPlugin/);
  });

  it('a WasmPlugin Ambit cannot load is a schema error naming the field', () => {
    const m = only(
      run(`apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: plugin, namespace: shop }
spec: { url: "oci://example/plugin:1" }
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: good, namespace: shop }
spec: { url: "file:///plugins/good.wasm", phase: AUTHZ }
`),
      'IST0106',
    );
    expect(m.map((x) => `${x.origin.kind} ${x.origin.name}`)).toEqual(['WasmPlugin plugin']);
    expect(m[0]?.text).toMatch(/spec\.url.*OCI/);
  });

  it('a WasmPlugin with only a selector is named: it reaches no waypoint', () => {
    const m = only(
      run(`apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: by-selector, namespace: shop }
spec: { url: "file:///plugins/p.wasm", selector: { matchLabels: { app: web } } }
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: by-ref, namespace: shop }
spec: { url: "file:///plugins/p.wasm", targetRefs: [{ kind: Service, group: "", name: web }] }
`),
      'AMB0002',
    );
    expect(m.map((x) => `${x.origin.name} ${x.text}`)).toEqual([
      expect.stringMatching(/^by-selector spec\.selector .*reaches no waypoint/),
    ]);
  });

  it('unsupported fields are named with their path', () => {
    const m = only(
      run(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route: [{ destination: { host: reviews } }]
      corsPolicy: { allowOrigins: [{ exact: "https://a" }] }
      match: [{ uri: { prefix: /a }, statPrefix: a }]
  tcp: [{ route: [{ destination: { host: reviews } }] }]
`),
      'AMB0002',
    );
    // tcp routes and corsPolicy are applied (at waypoints): not named.
    expect(m.map((x) => x.field)).toEqual(['spec.http[0].match[0].statPrefix']);
    expect(m[0]?.text).toBe('spec.http[0].match[0].statPrefix is not supported by Ambit and is ignored');
  });

  it('a CUSTOM policy naming a gRPC ext-authz provider is an error; an unknown provider is IST0101', () => {
    const m = run(`apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: istio-system }
data:
  mesh: |
    extensionProviders:
      - name: grpc-authz
        envoyExtAuthzGrpc: { service: authz.shop.svc.cluster.local, port: 9000 }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: shop }
spec: { action: CUSTOM, provider: { name: grpc-authz }, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: nobody, namespace: shop }
spec: { action: CUSTOM, provider: { name: nope }, rules: [{}] }
`);
    expect(only(m, 'AMB0003').map((x) => [x.type.level, x.origin.name, x.text])).toEqual([
      [
        'Error',
        'ext',
        'extension provider "grpc-authz" is envoyExtAuthzGrpc, which Ambit does not support (only envoyExtAuthzHttp): ' +
          'requests this policy matches are denied',
      ],
    ]);
    expect(only(m, 'IST0101').map((x) => x.origin.name)).toEqual(['nobody']);
  });

  it("records have istioctl's JSON shape", () => {
    const [m] = only(
      run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: shop }
spec: { selector: { matchLabels: { app: ratings } } }
`),
      'IST0127',
    );
    expect(messageRecord(m!)).toEqual({
      code: 'IST0127',
      level: 'Warning',
      origin: 'AuthorizationPolicy shop/ap',
      field: 'spec.selector.matchLabels',
      documentationUrl: 'https://istio.io/latest/docs/reference/config/analysis/ist0127/?ref=ambitctl',
      message: 'No matching workloads for this resource with the following labels: app=ratings',
    });
  });
});

describe('notAppliedNotes (the controller log)', () => {
  it('names each object Ambit does not apply, with the reason', async () => {
    const { notAppliedNotes } = await import('./not-applied.js');
    const notes = notAppliedNotes(
      yamlObjects(`apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: lua, namespace: shop }
spec: { configPatches: [] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: t, namespace: shop }
spec: {}
`),
      'istio-system',
    );
    expect(notes.map((n) => [n.code, n.object])).toEqual([['AMB0001', 'EnvoyFilter/shop/lua']]);
    expect(notes[0]?.text).toMatch(/^EnvoyFilter\/shop\/lua: EnvoyFilter patches Envoy's configuration.*WasmPlugin/);
  });
});

describe('every unsupported field is named when met', () => {
  const GROUP: Record<string, string> = {
    VirtualService: 'networking.istio.io/v1',
    DestinationRule: 'networking.istio.io/v1',
    Sidecar: 'networking.istio.io/v1',
    Gateway: 'networking.istio.io/v1',
    ServiceEntry: 'networking.istio.io/v1',
    WorkloadEntry: 'networking.istio.io/v1',
    RequestAuthentication: 'security.istio.io/v1',
    Telemetry: 'telemetry.istio.io/v1',
  };
  /** An object where `pattern` is present (`[*]` as a one-element list). */
  function objectWith(pattern: string): Record<string, unknown> {
    const root: Record<string, unknown> = {};
    let here = root;
    const parts = pattern.split('.');
    parts.forEach((part, i) => {
      const list = part.endsWith('[*]');
      const key = list ? part.slice(0, -3) : part;
      const child: Record<string, unknown> = {};
      if (i === parts.length - 1) here[key] = list ? [child] : child;
      else {
        here[key] = list ? [child] : child;
        here = child;
      }
    });
    return root;
  }
  const cases = Object.entries(UNSUPPORTED_FIELDS).flatMap(([kind, patterns]) => patterns.map((p) => ({ kind, p })));
  it.each(cases)('$kind $p', ({ kind, p }) => {
    const obj = { apiVersion: GROUP[kind], kind, metadata: { name: 'x', namespace: 'shop' }, ...objectWith(p) };
    const m = analyze([obj as never]).filter((x) => x.type.code === 'AMB0002');
    expect(m.map((x) => x.field)).toContain(p.replace(/\[\*\]/g, '[0]'));
  });
});
