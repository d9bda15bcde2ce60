// OpenAPI schemas of networking.istio.io resources, written from Istio's API reference.
import {
  anything,
  arr,
  bool,
  duration,
  int,
  labels,
  mapOf,
  obj,
  oneOfEnum,
  percent,
  port,
  str,
  stringMatch,
  strings,
  uint,
  workloadSelector,
  type Schema,
} from './schema.js';

const portSelector = obj({ number: port });
const headerOps = obj({ set: mapOf(str), add: mapOf(str), remove: strings });
const headers = obj({ request: headerOps, response: headerOps });
const destination = obj({ host: str, subset: str, port: portSelector }, { required: ['host'] });
/** A StringMatch in a map of headers or query parameters: `{}` (present, any value) is allowed too. */
const presenceMatch = obj({ exact: str, prefix: str, regex: str }, { maxProperties: 1 });

const httpMatch = obj({
  name: str,
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: mapOf(presenceMatch),
  withoutHeaders: mapOf(presenceMatch),
  queryParams: mapOf(presenceMatch),
  port: uint,
  sourceLabels: labels,
  gateways: strings,
  sourceNamespace: str,
  ignoreUriCase: bool,
  statPrefix: str,
});

const httpRoute = obj({
  name: str,
  match: arr(httpMatch),
  route: arr(obj({ destination, weight: int, headers }, { required: ['destination'] })),
  redirect: obj({
    uri: str,
    authority: str,
    port: port,
    derivePort: oneOfEnum('FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'),
    scheme: str,
    redirectCode: uint,
    prefixRewrite: str,
  }),
  directResponse: obj({ status: uint, body: obj({ string: str, bytes: str }) }, { required: ['status'] }),
  delegate: obj({ name: str, namespace: str }),
  rewrite: obj({ uri: str, authority: str, uriRegexRewrite: obj({ match: str, rewrite: str }) }),
  timeout: duration,
  retries: obj({
    attempts: int,
    perTryTimeout: duration,
    retryOn: str,
    retryRemoteLocalities: bool,
    retryIgnorePreviousHosts: bool,
    backoff: duration,
  }),
  fault: obj({
    delay: obj({ fixedDelay: duration, exponentialDelay: duration, percentage: percent, percent: int }),
    abort: obj({ httpStatus: int, grpcStatus: str, http2Error: str, percentage: percent }),
  }),
  mirror: destination,
  mirrors: arr(obj({ destination, percentage: percent }, { required: ['destination'] })),
  mirrorPercentage: percent,
  mirror_percent: uint,
  corsPolicy: obj({
    allowOrigin: strings,
    allowOrigins: arr(stringMatch),
    allowMethods: strings,
    allowHeaders: strings,
    exposeHeaders: strings,
    maxAge: duration,
    allowCredentials: bool,
    unmatchedPreflights: oneOfEnum('UNSPECIFIED', 'FORWARD', 'IGNORE'),
  }),
  headers,
});

const l4Match = obj({
  destinationSubnets: strings,
  port: uint,
  sourceSubnet: str,
  sourceLabels: labels,
  gateways: strings,
  sourceNamespace: str,
});
const tlsMatch = obj(
  {
    sniHosts: strings,
    destinationSubnets: strings,
    port: uint,
    sourceLabels: labels,
    gateways: strings,
    sourceNamespace: str,
  },
  { required: ['sniHosts'] },
);
const routeDestination = obj({ destination, weight: int }, { required: ['destination'] });

export const virtualService = obj({
  hosts: strings,
  gateways: strings,
  http: arr(httpRoute),
  tls: arr(obj({ match: arr(tlsMatch), route: arr(routeDestination) }, { required: ['match'] })),
  tcp: arr(obj({ match: arr(l4Match), route: arr(routeDestination) })),
  exportTo: strings,
});

const localityLb = obj({
  enabled: bool,
  distribute: arr(obj({ from: str, to: mapOf(uint) })),
  failover: arr(obj({ from: str, to: str })),
  failoverPriority: strings,
});

const loadBalancer = obj({
  simple: oneOfEnum('UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'),
  consistentHash: obj({
    httpHeaderName: str,
    httpCookie: obj({ name: str, path: str, ttl: duration }, { required: ['name'] }),
    useSourceIp: bool,
    httpQueryParameterName: str,
    ringHash: obj({ minimumRingSize: uint }),
    maglev: obj({ tableSize: uint }),
    minimumRingSize: uint,
  }),
  localityLbSetting: localityLb,
  /** Deprecated by Istio for `warmup`. */
  warmupDurationSecs: duration,
  warmup: obj(
    {
      duration,
      minimumPercent: { type: 'number', format: 'double', minimum: 0, maximum: 100 } as Schema<number>,
      aggression: { type: 'number', format: 'double', minimum: 0 } as Schema<number>,
    },
    { required: ['duration'] },
  ),
});

const connectionPool = obj({
  tcp: obj({
    maxConnections: int,
    connectTimeout: duration,
    tcpKeepalive: obj({ probes: uint, time: duration, interval: duration }),
    maxConnectionDuration: duration,
    idleTimeout: duration,
  }),
  http: obj({
    http1MaxPendingRequests: int,
    http2MaxRequests: int,
    maxRequestsPerConnection: int,
    maxRetries: int,
    idleTimeout: duration,
    h2UpgradePolicy: oneOfEnum('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'),
    useClientProtocol: bool,
    maxConcurrentStreams: int,
  }),
});

const outlierDetection = obj({
  splitExternalLocalOriginErrors: bool,
  consecutiveLocalOriginFailures: uint,
  consecutiveGatewayErrors: uint,
  consecutive5xxErrors: uint,
  consecutiveErrors: int,
  interval: duration,
  baseEjectionTime: duration,
  maxEjectionPercent: int,
  minHealthPercent: int,
});

const clientTls = obj({
  mode: oneOfEnum('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'),
  clientCertificate: str,
  privateKey: str,
  caCertificates: str,
  credentialName: str,
  subjectAltNames: strings,
  sni: str,
  insecureSkipVerify: bool,
  caCrl: str,
});

const trafficPolicyBase = {
  loadBalancer,
  connectionPool,
  outlierDetection,
  tls: clientTls,
  tunnel: obj({ protocol: str, targetHost: str, targetPort: port }, { required: ['targetHost', 'targetPort'] }),
  proxyProtocol: obj({ version: oneOfEnum('V1', 'V2') }),
};

const trafficPolicy = obj({
  ...trafficPolicyBase,
  portLevelSettings: arr(obj({ port: portSelector, loadBalancer, connectionPool, outlierDetection, tls: clientTls })),
});

export const destinationRule = obj(
  {
    host: str,
    trafficPolicy,
    subsets: arr(obj({ name: str, labels, trafficPolicy }, { required: ['name'] })),
    exportTo: strings,
    workloadSelector,
  },
  { required: ['host'] },
);

const servicePort = obj({ number: port, protocol: str, name: str, targetPort: port }, { required: ['number', 'name'] });
const workloadEntrySpec = obj({
  address: str,
  ports: mapOf(port),
  labels,
  network: str,
  locality: str,
  weight: uint,
  serviceAccount: str,
});

export const serviceEntry = obj(
  {
    hosts: strings,
    addresses: strings,
    ports: arr(servicePort),
    location: oneOfEnum('MESH_EXTERNAL', 'MESH_INTERNAL'),
    resolution: oneOfEnum('NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'),
    endpoints: arr(workloadEntrySpec),
    workloadSelector: obj({ labels }),
    exportTo: strings,
    subjectAltNames: strings,
  },
  { required: ['hosts'] },
);

const serverTls = obj({
  httpsRedirect: bool,
  mode: oneOfEnum('PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'),
  serverCertificate: str,
  privateKey: str,
  caCertificates: str,
  caCrl: str,
  credentialName: str,
  credentialNames: strings,
  caCertCredentialName: str,
  tlsCertificates: arr(obj({ serverCertificate: str, privateKey: str, caCertificates: str })),
  subjectAltNames: strings,
  verifyCertificateSpki: strings,
  verifyCertificateHash: strings,
  minProtocolVersion: oneOfEnum('TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'),
  maxProtocolVersion: oneOfEnum('TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'),
  cipherSuites: strings,
  insecureSkipVerify: bool,
});

export const gateway = obj({
  servers: arr(
    obj(
      {
        port: obj(
          { number: port, protocol: str, name: str, targetPort: port },
          { required: ['number', 'protocol', 'name'] },
        ),
        bind: str,
        hosts: strings,
        tls: serverTls,
        defaultEndpoint: str,
        name: str,
      },
      { required: ['port', 'hosts'] },
    ),
  ),
  selector: labels,
});

/** A Sidecar listener's port: nothing required (number 0 with a unix socket bind). */
const sidecarPort = obj({ number: uint, protocol: str, name: str, targetPort: uint });

export const sidecar = obj({
  workloadSelector: obj({ labels }),
  ingress: arr(
    obj(
      {
        port: sidecarPort,
        bind: str,
        captureMode: oneOfEnum('DEFAULT', 'IPTABLES', 'NONE'),
        defaultEndpoint: str,
        tls: serverTls,
        connectionPool,
      },
      { required: ['port'] },
    ),
  ),
  egress: arr(
    obj(
      { port: sidecarPort, bind: str, captureMode: oneOfEnum('DEFAULT', 'IPTABLES', 'NONE'), hosts: strings },
      { required: ['hosts'] },
    ),
  ),
  inboundConnectionPool: connectionPool,
  outboundTrafficPolicy: obj({ mode: oneOfEnum('REGISTRY_ONLY', 'ALLOW_ANY'), egressProxy: destination }),
});

export const workloadEntry = workloadEntrySpec;

export const workloadGroup = obj(
  {
    metadata: obj({ labels, annotations: mapOf(str) }),
    template: workloadEntrySpec,
    probe: anything,
  },
  { required: ['template'] },
);
