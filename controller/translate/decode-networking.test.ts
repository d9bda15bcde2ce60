// DestinationRule, ServiceEntry, WorkloadEntry, WorkloadGroup, Istio Gateway and Sidecar are
// decoded against their CRD schema before Istio's value rules run: a value of the wrong type,
// an unknown field, a missing required field or a value outside an enum rejects the object,
// naming it, the field path and the file:line it came from, and the rest of the mesh still
// translates. What decodes cleanly translates as before.
import { describe, expect, it } from 'vitest';
import { formatRejection } from './index.js';
import { translateAfterMesh } from './testdata/with-origins.js';

const FILE = 'networking.yaml';

/** An object named `bad` in namespace shop of a networking.istio.io kind, with the given spec lines. */
const objYaml = (kind: string, spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: { name: bad, namespace: shop }\n` +
  `spec:\n${spec.replace(/^/gm, '  ')}\n`;

const translateWith = (doc: string) => translateAfterMesh(doc, FILE);

const SE_PORT = 'ports: [{ number: 443, name: tls, protocol: TLS }]';
const GW_PORT = 'port: { number: 80, name: http, protocol: HTTP }';

const CASES: readonly [kind: string, what: string, spec: string, field: string, reason: RegExp][] = [
  [
    'DestinationRule',
    'a connection limit in quotes',
    'host: reviews\ntrafficPolicy: { connectionPool: { tcp: { maxConnections: "100" } } }',
    'spec.trafficPolicy.connectionPool.tcp.maxConnections',
    /must be an integer, got string "100"/,
  ],
  [
    'DestinationRule',
    '`simpel:` for `simple:`',
    'host: reviews\ntrafficPolicy: { loadBalancer: { simpel: ROUND_ROBIN } }',
    'spec.trafficPolicy.loadBalancer.simpel',
    /unknown field "simpel"/,
  ],
  [
    'DestinationRule',
    'a subset without its name',
    'host: reviews\nsubsets: [{ labels: { version: v3 } }]',
    'spec.subsets[0].name',
    /required field is missing/,
  ],
  [
    'DestinationRule',
    'a hash cookie without its name',
    'host: reviews\ntrafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { ttl: 0s } } } }',
    'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name',
    /required field is missing/,
  ],
  [
    'DestinationRule',
    'a TLS mode Istio does not have',
    'host: reviews\nsubsets: [{ name: v1, trafficPolicy: { tls: { mode: STRICT } } }]',
    'spec.subsets[0].trafficPolicy.tls.mode',
    /unknown value "STRICT"/,
  ],
  [
    'DestinationRule',
    'a port-level setting of a subset, out of range (a value rule, after decoding)',
    'host: reviews\ntrafficPolicy: { portLevelSettings: [{ port: { number: 9080 }, outlierDetection: { maxEjectionPercent: 150 } }] }',
    'spec.trafficPolicy.portLevelSettings[0].outlierDetection.maxEjectionPercent',
    /percentage 150 must be between 0 and 100/,
  ],
  [
    'DestinationRule',
    'a warmup minimumPercent over 100 (a value rule)',
    'host: reviews\ntrafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, warmup: { duration: 30s, minimumPercent: 120 } } }',
    'spec.trafficPolicy.loadBalancer.warmup.minimumPercent',
    /percentage 120 must be between 0 and 100/,
  ],
  [
    'DestinationRule',
    'a warmup duration that is no duration',
    'host: reviews\ntrafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, warmupDurationSecs: soon } }',
    'spec.trafficPolicy.loadBalancer.warmupDurationSecs',
    /invalid duration "soon"/,
  ],
  [
    'DestinationRule',
    'a warmup without its duration',
    'host: reviews\ntrafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, warmup: { minimumPercent: 10 } } }',
    'spec.trafficPolicy.loadBalancer.warmup.duration',
    /required field is missing/,
  ],
  [
    'DestinationRule',
    'a tunnel without its target port',
    'host: reviews\ntrafficPolicy: { tunnel: { protocol: CONNECT, targetHost: proxy.example.com } }',
    'spec.trafficPolicy.tunnel.targetPort',
    /required field is missing/,
  ],
  ['ServiceEntry', 'no hosts', `${SE_PORT}\nresolution: DNS`, 'spec.hosts', /required field is missing/],
  [
    'ServiceEntry',
    'a port number in quotes',
    'hosts: [api.example.com]\nports: [{ number: "443", name: tls }]\nresolution: DNS',
    'spec.ports[0].number',
    /must be an integer, got string "443"/,
  ],
  [
    'ServiceEntry',
    'a port without its name',
    'hosts: [api.example.com]\nports: [{ number: 443, protocol: TLS }]\nresolution: DNS',
    'spec.ports[0].name',
    /required field is missing/,
  ],
  [
    'ServiceEntry',
    '`adress:` in an endpoint',
    `hosts: [api.example.com]\n${SE_PORT}\nresolution: STATIC\nendpoints: [{ adress: 10.1.0.1 }]`,
    'spec.endpoints[0].adress',
    /unknown field "adress"/,
  ],
  [
    'ServiceEntry',
    'a lowercase resolution',
    `hosts: [api.example.com]\n${SE_PORT}\nresolution: dns`,
    'spec.resolution',
    /unknown value "dns"/,
  ],
  [
    'ServiceEntry',
    'resolution DYNAMIC_DNS (an Istio value Ambit cannot serve)',
    `hosts: ["*.example.com"]\n${SE_PORT}\nresolution: DYNAMIC_DNS`,
    'spec.resolution',
    /DYNAMIC_DNS .* is not supported by Ambit/,
  ],
  [
    'WorkloadEntry',
    'a weight in quotes',
    'address: 10.1.0.9\nweight: "5"',
    'spec.weight',
    /must be an integer, got string "5"/,
  ],
  [
    'WorkloadEntry',
    'a named port as text',
    'address: 10.1.0.9\nports: { http: "8080" }',
    'spec.ports.http',
    /must be an integer, got string "8080"/,
  ],
  [
    'WorkloadEntry',
    '`serviceAcount:` for `serviceAccount:`',
    'address: 10.1.0.9\nserviceAcount: reviews',
    'spec.serviceAcount',
    /unknown field "serviceAcount"/,
  ],
  ['WorkloadGroup', 'no template', 'metadata: { labels: { app: vm } }', 'spec.template', /required field is missing/],
  [
    'WorkloadGroup',
    'a label value that is a number',
    'metadata: { labels: { version: 2 } }\ntemplate: { serviceAccount: vm }',
    'spec.metadata.labels.version',
    /must be a string, got number 2/,
  ],
  [
    'Gateway',
    'a server without hosts',
    `selector: { istio: ingressgateway }\nservers: [{ ${GW_PORT} }]`,
    'spec.servers[0].hosts',
    /required field is missing/,
  ],
  [
    'Gateway',
    'a port without its protocol',
    'selector: { istio: ingressgateway }\nservers: [{ port: { number: 80, name: http }, hosts: ["*"] }]',
    'spec.servers[0].port.protocol',
    /required field is missing/,
  ],
  [
    'Gateway',
    'a lowercase TLS mode',
    'servers: [{ port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*"], tls: { mode: simple } }]',
    'spec.servers[0].tls.mode',
    /unknown value "simple"/,
  ],
  [
    'Gateway',
    '`serverCertficate:` for `serverCertificate:`',
    'servers: [{ port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*"], tls: { mode: SIMPLE, serverCertficate: /c.pem } }]',
    'spec.servers[0].tls.serverCertficate',
    /unknown field "serverCertficate"/,
  ],
  [
    'Sidecar',
    'an egress listener without hosts',
    'egress: [{ port: { number: 80, name: http, protocol: HTTP } }]',
    'spec.egress[0].hosts',
    /required field is missing/,
  ],
  [
    'Sidecar',
    'a matchLabels selector (a Sidecar selects by `labels`)',
    'workloadSelector: { matchLabels: { app: reviews } }\negress: [{ hosts: ["./*"] }]',
    'spec.workloadSelector.matchLabels',
    /unknown field "matchLabels"/,
  ],
  [
    'Sidecar',
    'an ingress listener without its port',
    'ingress: [{ defaultEndpoint: "127.0.0.1:8080" }]',
    'spec.ingress[0].port',
    /required field is missing/,
  ],
  [
    'Sidecar',
    'an egress port number outside 1..65535 (a value rule)',
    'egress: [{ port: { number: 70000 }, hosts: ["./*"] }]',
    'spec.egress[0].port.number',
    /invalid port 70000/,
  ],
  [
    'Sidecar',
    'an outbound mode Istio does not have',
    'egress: [{ hosts: ["./*"] }]\noutboundTrafficPolicy: { mode: ALLOW_ALL }',
    'spec.outboundTrafficPolicy.mode',
    /unknown value "ALLOW_ALL"/,
  ],
];

describe('decoded networking objects: rejections name object, field and file:line', () => {
  it.each(CASES)('%s: %s', (kind, _what, spec, field, reason) => {
    const { result, line } = translateWith(objYaml(kind, spec));
    const mine = result.rejected.filter((r) => r.name === 'bad');
    const hit = mine.find((r) => r.field === field);
    expect(hit, mine.map(formatRejection).join('\n')).toMatchObject({
      kind,
      namespace: 'shop',
      field,
      origin: { file: FILE, line },
    });
    expect(hit!.reason).toMatch(reason);
    expect(formatRejection(hit!)).toBe(`${kind}/shop/bad: ${field}: ${hit!.reason} (${FILE}:${line})`);
    expect(result.rejected.filter((r) => r.name !== 'bad')).toEqual([]);
  });

  it('a rejected DestinationRule applies no policy; the valid ones of the mesh still do', () => {
    const { result } = translateWith(
      objYaml('DestinationRule', 'host: ratings\ntrafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST", x: 1 } }'),
    );
    expect(result.rejected.map((r) => `${r.name} ${r.field ?? ''}`)).toEqual(['bad spec.trafficPolicy.loadBalancer.x']);
    const clusters = result.waypoints.get('shop')?.clusters ?? [];
    const ratings = clusters.find((c) => c.host.startsWith('ratings.'));
    expect(ratings?.trafficPolicy).toEqual({});
    expect(ratings?.destinationRule).toBeUndefined();
    // The mesh's own reviews DestinationRule still defines its subsets.
    expect(clusters.some((c) => c.host.startsWith('reviews.') && c.destinationRule === 'shop/reviews')).toBe(true);
  });
});

describe('what decodes cleanly translates from the typed value', () => {
  it('ringHash.minimumRingSize (the current spelling) is read as the ring size', () => {
    const { result } = translateWith(
      objYaml(
        'DestinationRule',
        'host: ratings\ntrafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user, ringHash: { minimumRingSize: 2048 } } } }',
      ),
    );
    expect(result.rejected.map(formatRejection)).toEqual([]);
    const ratings = result.waypoints.get('shop')?.clusters.find((c) => c.host.startsWith('ratings.'));
    expect(ratings?.trafficPolicy.loadBalancer).toEqual({
      consistentHash: { httpHeaderName: 'x-user', minimumRingSize: 2048 },
    });
  });

  it('loadBalancer.warmup: its duration is the warmup, before the deprecated warmupDurationSecs', () => {
    const { result } = translateWith(
      objYaml(
        'DestinationRule',
        'host: ratings\ntrafficPolicy: { loadBalancer: { simple: LEAST_REQUEST, warmupDurationSecs: 10s, ' +
          'warmup: { duration: 45s, minimumPercent: 10, aggression: 1.5 } } }',
      ),
    );
    expect(result.rejected.map(formatRejection)).toEqual([]);
    const ratings = result.waypoints.get('shop')?.clusters.find((c) => c.host.startsWith('ratings.'));
    expect(ratings?.trafficPolicy.loadBalancer).toEqual({ simple: 'LEAST_REQUEST', warmupDurationMs: 45_000 });
  });

  it('Sidecar listener ports need no name; an egress port 0 is a unix socket bind', () => {
    const { result } = translateWith(
      objYaml(
        'Sidecar',
        'ingress: [{ port: { number: 9080, protocol: HTTP }, defaultEndpoint: "127.0.0.1:8080" }]\n' +
          'egress:\n  - { port: { number: 9080 }, hosts: ["./*"] }\n' +
          '  - { port: { number: 0, protocol: HTTP }, bind: "unix:///var/run/app.sock", hosts: ["istio-system/*"] }',
      ),
    );
    expect(result.rejected.map(formatRejection)).toEqual([]);
    expect(result.snapshot.sidecarScopes?.find((s) => s.key === 'shop/bad')?.egressHosts).toEqual([
      './*',
      'istio-system/*',
    ]);
  });

  it("Istio's server TLS fields are accepted (Ambit's gateway reads mode and certificates; analyze names the rest)", () => {
    const tls =
      '{ mode: MUTUAL, credentialName: front, caCrl: /etc/crl.pem, caCertCredentialName: front-ca, ' +
      'subjectAltNames: [spiffe://x], minProtocolVersion: TLSV1_2, insecureSkipVerify: false, ' +
      'tlsCertificates: [{ serverCertificate: /c.pem, privateKey: /k.pem }] }';
    const { result } = translateWith(
      objYaml(
        'Gateway',
        `servers: [{ port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*"], tls: ${tls} }]`,
      ),
    );
    expect(result.rejected.map(formatRejection)).toEqual([]);
    expect(result.gateways.get('shop/bad')?.servers[0]?.tls).toEqual({ mode: 'MUTUAL', credentialName: 'front' });
  });

  it('Gateway server protocols in any case, served as HTTP, TCP or as written', () => {
    const servers = [
      ['80', 'http'],
      ['81', 'GRPC-WEB'],
      ['3306', 'MYSQL'],
      ['82', 'Http2'],
    ]
      .map(
        ([port, protocol]) => `  - { port: { number: ${port}, name: p${port}, protocol: ${protocol} }, hosts: ["*"] }`,
      )
      .join('\n');
    const { result } = translateWith(objYaml('Gateway', `selector: { istio: ingress }\nservers:\n${servers}`));
    expect(result.rejected.map(formatRejection)).toEqual([]);
    const gw = result.gateways.get('shop/bad');
    expect(gw?.selector).toEqual({ istio: 'ingress' });
    expect(gw?.servers.map((s) => [s.port, s.protocol])).toEqual([
      [80, 'HTTP'],
      [81, 'HTTP'],
      [3306, 'TCP'],
      [82, 'HTTP2'],
    ]);
  });

  it('a WorkloadEntry registered from a WorkloadGroup: labels, account and locality from both', () => {
    const group =
      'apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: { name: vms, namespace: shop }\n' +
      'spec:\n  metadata: { labels: { app: ratings, tier: vm } }\n' +
      '  template: { serviceAccount: ratings-vm, locality: eu/west-1/a, labels: { version: v9 } }\n';
    const entry =
      'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n' +
      'metadata: { name: vm-1, namespace: shop, annotations: { istio.io/autoRegistrationGroup: vms } }\n' +
      'spec: { address: 10.9.0.1, labels: { tier: gold } }\n';
    const { result } = translateWith(`${group}---\n${entry}`);
    expect(result.rejected.map(formatRejection)).toEqual([]);
    const w = result.snapshot.workloads.find((x) => x.uid === 'WorkloadEntry/shop/vm-1');
    expect(w).toMatchObject({
      kind: 'WorkloadEntry',
      serviceAccount: 'ratings-vm',
      ips: ['10.9.0.1'],
      labels: { app: 'ratings', tier: 'gold', version: 'v9' },
      locality: { region: 'eu', zone: 'west-1', subzone: 'a' },
    });
  });
});
