// `ambit-waypoint` settings: every flag and environment variable the waypoint (and, with
// --mode, a gateway) reads, declared once for the binary, `ambitctl local` and the chart test.
// Controller mode (AMBIT_CONTROLLER): L7 config and certificate from the controller, which
// must present AMBIT_CONTROLLER_IDENTITY. File mode (AMBIT_WAYPOINT_CONFIG_FILE): config from
// a file, certificate from an in-process CA persisted in AMBIT_STATE_DIR/ca.
import {
  COMMON_SETTINGS,
  CONTROLLER_LINK_SETTINGS,
  parse,
  parseFlags,
  readSettings,
  setting,
  type ComponentSpec,
  type Env,
} from '../../core/config/settings.js';

/** `k=v,k=v` → labels; a pair without `=` is refused. */
function parseLabels(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`"${pair}" is not key=value`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

export type WaypointRole = 'waypoint' | 'ingress-gateway' | 'egress-gateway';
export type WaypointSource = 'file' | 'controller';

// A declaration table: entries look alike by design (flag, env, default, parse, doc); duplicates reports them as shape.
export const WAYPOINT_SETTINGS = {
  ...COMMON_SETTINGS,
  ...CONTROLLER_LINK_SETTINGS,
  role: setting<WaypointRole>({
    flag: '--mode',
    env: 'AMBIT_WAYPOINT_MODE',
    default: 'waypoint',
    parse: parse.oneOf('waypoint', 'ingress-gateway', 'egress-gateway'),
    doc: 'waypoint, ingress-gateway or egress-gateway (serves the Istio Gateways that select it)',
  }),
  namespace: setting<string>({
    env: 'POD_NAMESPACE',
    aliases: ['AMBIT_NAMESPACE'],
    default: '',
    parse: parse.string,
    requiredIn: ['file', 'controller'],
    doc: 'the namespace whose waypoint this is (downward API metadata.namespace)',
  }),
  podName: setting<string>({
    env: 'POD_NAME',
    aliases: ['HOSTNAME'],
    default: 'waypoint',
    parse: parse.string,
    doc: 'this replica (downward API metadata.name): logs and discovery node metadata',
  }),
  serviceAccount: setting<string>({
    env: 'SERVICE_ACCOUNT',
    default: 'waypoint',
    parse: parse.string,
    doc: "the waypoint's service account (its identity)",
  }),
  trustDomain: setting<string>({
    env: 'AMBIT_TRUST_DOMAIN',
    default: 'cluster.local',
    parse: parse.trustDomain,
    doc: 'SPIFFE trust domain',
  }),
  podIp: setting<string>({
    env: 'POD_IP',
    aliases: ['AMBIT_POD_IP'],
    default: '127.0.0.1',
    parse: parse.string,
    doc: "the pod's address (downward API status.podIP)",
  }),
  configFile: setting<string | undefined>({
    env: 'AMBIT_WAYPOINT_CONFIG_FILE',
    default: undefined,
    parse: parse.string,
    doc: 'file mode: a WaypointConfig as JSON or YAML, hot-reloaded (gateways: AMBIT_GATEWAY_CONFIG_FILE)',
  }),
  stateDir: setting<string>({
    env: 'AMBIT_STATE_DIR',
    default: '/var/run/ambit-waypoint',
    parse: parse.string,
    doc: 'file mode CA',
  }),
  hbonePort: setting<number>({
    env: 'AMBIT_HBONE_PORT',
    default: 15008,
    parse: parse.port,
    doc: 'HBONE (mTLS) listener',
  }),
  adminPort: setting<number>({
    env: 'AMBIT_ADMIN_PORT',
    default: 15000,
    parse: parse.port,
    doc: 'admin endpoint on 127.0.0.1 (0 = off)',
  }),
  metricsPort: setting<number>({
    env: 'AMBIT_METRICS_PORT',
    default: 15020,
    parse: parse.port,
    doc: 'Prometheus /metrics (0 = off)',
  }),
  readyPort: setting<number>({
    env: 'AMBIT_READY_PORT',
    default: 15021,
    parse: parse.port,
    doc: '/healthz/ready (0 = off)',
  }),
  hboneHost: setting<string>({
    env: 'AMBIT_HBONE_HOST',
    default: '::',
    parse: parse.string,
    doc: 'host of the HBONE listener (:: takes IPv4 too)',
  }),
  upstreamHbonePort: setting<number>({
    env: 'AMBIT_UPSTREAM_HBONE_PORT',
    default: 15008,
    parse: parse.port,
    doc: 'HBONE port of the endpoints (agents)',
  }),
  // Off unless asked for, as Istio's meshConfig.accessLogFile (the demo profile turns it on).
  accessLogging: setting<boolean>({
    env: 'AMBIT_ACCESS_LOG',
    default: false,
    parse: parse.boolean,
    doc: 'one access log line per request',
  }),
  certTtlSeconds: setting<number>({
    env: 'AMBIT_CERT_TTL_SECONDS',
    default: 86_400,
    parse: parse.nonNegative,
    doc: 'lifetime of the waypoint certificate',
  }),
  gatewayLabels: setting<Record<string, string> | undefined>({
    env: 'AMBIT_GATEWAY_LABELS',
    default: undefined,
    parse: parseLabels,
    doc: "gateway modes: the pod's labels, k=v,k=v, matched by each Gateway's selector (default istio=ingressgateway or istio=egressgateway)",
  }),
  gatewayCredentialDir: setting<string>({
    env: 'AMBIT_GATEWAY_CREDENTIAL_DIR',
    default: '/etc/ambit/gateway-credentials',
    parse: parse.string,
    doc: 'gateway modes: credentialName X is the folder X/ here with tls.crt, tls.key, ca.crt (file and local mode)',
  }),
  gatewayCredentialSource: setting<'files' | 'kube'>({
    env: 'AMBIT_GATEWAY_CREDENTIALS',
    default: 'files',
    parse: parse.oneOf('files', 'kube'),
    doc: 'gateway modes: read credentialName from AMBIT_GATEWAY_CREDENTIAL_DIR, or as a Secret of the gateway namespace',
  }),
  gatewayHost: setting<string>({
    env: 'AMBIT_GATEWAY_HOST',
    default: '::',
    parse: parse.string,
    doc: 'gateway modes: address the Gateway server ports listen on (:: takes IPv4 too)',
  }),
  gatewayConfigFile: setting<string | undefined>({
    env: 'AMBIT_GATEWAY_CONFIG_FILE',
    default: undefined,
    parse: parse.string,
    doc: 'gateway modes, file mode: {gateways: [GatewayConfig], authorizationPolicies: []} as JSON or YAML',
  }),
  otlpEndpoint: setting<string | undefined>({
    env: 'AMBIT_OTLP_ENDPOINT',
    default: undefined,
    parse: parse.string,
    doc: 'OTLP/HTTP collector for traces (unset = no export)',
  }),
};

export const WAYPOINT_SPEC: ComponentSpec<typeof WAYPOINT_SETTINGS, WaypointSource> = {
  component: 'ambit-waypoint',
  modes: ['file', 'controller'],
  settings: WAYPOINT_SETTINGS,
  mode: (raw) => (raw.get('configFile') || raw.get('gatewayConfigFile') ? 'file' : 'controller'),
};

export interface WaypointSettings {
  /** The role: a namespace's waypoint, or a gateway. */
  readonly mode: WaypointRole;
  /** Where the configuration comes from. */
  readonly source: WaypointSource;
  readonly namespace: string;
  readonly podName: string;
  readonly serviceAccount: string;
  readonly trustDomain: string;
  readonly podIp: string;
  /** File mode: a WaypointConfig as JSON or YAML, hot-reloaded. */
  readonly configFile?: string;
  readonly stateDir: string;
  /** Controller mode. */
  readonly controller?: string;
  readonly controllerRoots?: string;
  readonly controllerIdentity?: string;
  readonly tokenFile: string;
  readonly ports: { readonly hbone: number; readonly admin: number; readonly metrics: number; readonly ready: number };
  readonly hboneHost: string;
  /** HBONE port of the endpoints (agents). */
  readonly upstreamHbonePort: number;
  readonly accessLogging: boolean;
  readonly certTtlSeconds: number;
  readonly otlpEndpoint?: string;
  /** Gateway modes: labels matched by Gateway selectors, where credentials come from, the listen address. */
  readonly gateway: {
    readonly labels: Readonly<Record<string, string>>;
    readonly credentialDir: string;
    readonly credentialSource: 'files' | 'kube';
    readonly host: string;
    readonly configFile?: string;
  };
  /** AMBIT_ADMIN_TOKEN: enables the admin port's state-changing endpoints (bearer token). */
  readonly adminToken?: string;
}

const present = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

/** `argv` is the whole process argv (node, the script, then flags); unknown flags are refused. */
export function waypointSettings(argv: readonly string[], env: Env = process.env): WaypointSettings {
  const { flags } = parseFlags(WAYPOINT_SETTINGS, argv.slice(2));
  const v = readSettings(WAYPOINT_SPEC, { env, flags });
  const file = v.mode === 'file';
  return {
    mode: v.role,
    source: v.mode,
    namespace: v.namespace,
    podName: v.podName,
    serviceAccount: v.serviceAccount,
    trustDomain: v.trustDomain,
    podIp: v.podIp,
    ...present('configFile', v.configFile),
    ...(file
      ? {}
      : {
          ...present('controller', v.controller),
          ...present('controllerRoots', v.controllerRoots),
          ...present('controllerIdentity', v.controllerIdentity),
        }),
    tokenFile: v.tokenFile,
    stateDir: v.stateDir,
    ports: { hbone: v.hbonePort, admin: v.adminPort, metrics: v.metricsPort, ready: v.readyPort },
    hboneHost: v.hboneHost,
    upstreamHbonePort: v.upstreamHbonePort,
    accessLogging: v.accessLogging,
    certTtlSeconds: v.certTtlSeconds,
    ...present('otlpEndpoint', v.otlpEndpoint),
    gateway: {
      labels: v.gatewayLabels ?? { istio: v.role === 'egress-gateway' ? 'egressgateway' : 'ingressgateway' },
      credentialDir: v.gatewayCredentialDir,
      credentialSource: v.gatewayCredentialSource,
      host: v.gatewayHost,
      ...present('configFile', v.gatewayConfigFile),
    },
    ...present('adminToken', v.adminToken || undefined),
  };
}
