// `ambit-agent` settings: every environment variable the agent reads, declared once (the
// binary, `ambitctl local` and the chart test use these declarations). File mode
// (AMBIT_CONFIG_FILE): the mesh snapshot from a file, certificates from an in-process CA.
// Controller mode (AMBIT_CONTROLLER): discovery and CA of the controller, which must present
// AMBIT_CONTROLLER_IDENTITY on a certificate chaining to AMBIT_CONTROLLER_ROOTS.
import path from 'node:path';
import { AmbitError } from '../../core/errors.js';
import {
  COMMON_SETTINGS,
  CONTROLLER_LINK_SETTINGS,
  parse,
  readSettings,
  setting,
  type ComponentSpec,
  type Env,
} from '../../core/config/settings.js';
import { DEFAULT_AGENT_SOCKET } from '../../core/enrolment/index.js';
import { parseUpstreams } from '../dns/upstream.js';

export type AgentMode = 'file' | 'controller';

const absolute = (raw: string): string => path.resolve(raw);

// A declaration table: entries look alike by design (flag, env, default, parse, doc); duplicates reports them as shape.
export const AGENT_SETTINGS = {
  ...COMMON_SETTINGS,
  ...CONTROLLER_LINK_SETTINGS,
  configFile: setting<string | undefined>({
    env: 'AMBIT_CONFIG_FILE',
    default: undefined,
    parse: absolute,
    requiredIn: ['file'],
    doc: 'file mode: the mesh snapshot (JSON/YAML), hot-reloaded',
  }),
  nodeName: setting<string>({
    env: 'AMBIT_NODE_NAME',
    aliases: ['HOSTNAME'],
    default: 'local',
    parse: parse.string,
    doc: 'this node (spec.nodeName)',
  }),
  stateDir: setting<string>({
    env: 'AMBIT_STATE_DIR',
    default: path.resolve('/var/lib/ambit/agent'),
    parse: absolute,
    doc: 'file mode CA and agent state',
  }),
  enrolmentSocket: setting<string>({
    env: 'AMBIT_AGENT_SOCKET',
    default: DEFAULT_AGENT_SOCKET,
    parse: parse.string,
    doc: 'Unix socket the CNI plugin enrols pods on',
  }),
  trustDomain: setting<string>({
    env: 'AMBIT_TRUST_DOMAIN',
    default: 'cluster.local',
    parse: parse.trustDomain,
    doc: 'SPIFFE trust domain',
  }),
  outboundPort: setting<number>({
    env: 'AMBIT_OUTBOUND_PORT',
    default: 15001,
    parse: parse.port,
    doc: 'in-pod outbound capture port',
  }),
  inboundPlaintextPort: setting<number>({
    env: 'AMBIT_INBOUND_PLAINTEXT_PORT',
    default: 15006,
    parse: parse.port,
    doc: 'in-pod plaintext inbound port',
  }),
  hbonePort: setting<number>({
    env: 'AMBIT_HBONE_PORT',
    default: 15008,
    parse: parse.port,
    doc: 'in-pod HBONE (mTLS) inbound port',
  }),
  adminPort: setting<number>({
    env: 'AMBIT_ADMIN_PORT',
    default: 15000,
    parse: parse.port,
    doc: 'admin endpoint on AMBIT_LOCAL_HOST (0 = off)',
  }),
  metricsPort: setting<number>({
    env: 'AMBIT_METRICS_PORT',
    default: 15020,
    parse: parse.port,
    doc: 'Prometheus /metrics on AMBIT_PUBLIC_HOST (0 = off)',
  }),
  readyPort: setting<number>({
    env: 'AMBIT_READY_PORT',
    default: 15021,
    parse: parse.port,
    doc: '/healthz/ready on AMBIT_PUBLIC_HOST (0 = off)',
  }),
  dnsPort: setting<number>({
    env: 'AMBIT_DNS_PORT',
    default: 15053,
    parse: parse.port,
    doc: "in-pod DNS proxy (UDP and TCP on the pod's loopback; the capture rules redirect port 53 to 15053)",
  }),
  dnsUpstreams: setting<string | undefined>({
    env: 'AMBIT_DNS_UPSTREAMS',
    default: undefined,
    parse: (raw) => (parseUpstreams(raw), raw),
    doc: "resolvers for names outside the mesh (ip, ip:port, [ipv6]:port, comma-separated); default: the agent's /etc/resolv.conf",
  }),
  socks5Port: setting<number>({
    env: 'AMBIT_SOCKS5_PORT',
    default: 0,
    parse: parse.port,
    doc: 'node-level SOCKS5 proxy on AMBIT_LOCAL_HOST; 0 (the default) = off',
  }),
  localHost: setting<string>({
    env: 'AMBIT_LOCAL_HOST',
    default: '127.0.0.1',
    parse: parse.string,
    doc: 'host of the admin and SOCKS5 listeners',
  }),
  publicHost: setting<string>({
    env: 'AMBIT_PUBLIC_HOST',
    default: '0.0.0.0',
    parse: parse.string,
    doc: 'host of the metrics and readiness listeners',
  }),
  drainMs: setting<number>({
    env: 'AMBIT_DRAIN_MS',
    default: 5000,
    parse: parse.nonNegative,
    doc: 'how long SIGTERM waits for open connections',
  }),
  certTtlSeconds: setting<number>({
    env: 'AMBIT_CERT_TTL_SECONDS',
    default: 24 * 3600,
    parse: parse.nonNegative,
    doc: 'lifetime of workload certificates',
  }),
  namespace: setting<string>({
    env: 'POD_NAMESPACE',
    aliases: ['AMBIT_NAMESPACE'],
    default: 'ambit-system',
    parse: parse.string,
    doc: "the agent's namespace (identity of the SOCKS5 proxy)",
  }),
  serviceAccount: setting<string>({
    env: 'SERVICE_ACCOUNT',
    aliases: ['AMBIT_SERVICE_ACCOUNT'],
    default: 'ambit-agent',
    parse: parse.string,
    doc: "the agent's service account (identity of the SOCKS5 proxy)",
  }),
  discovery: setting<'on-demand' | 'full'>({
    env: 'AMBIT_DISCOVERY',
    default: 'on-demand',
    parse: parse.oneOf('on-demand', 'full'),
    doc:
      "controller mode: 'on-demand' receives this node's workloads and looks destinations up by address " +
      "when it first meets them; 'full' receives the whole mesh",
  }),
  nativeAddon: setting<string | undefined>({
    env: 'AMBIT_NATIVE_ADDON',
    default: undefined,
    parse: absolute,
    doc: 'path of the netns addon (read by agent/inpod/native.ts)',
  }),
};

export const AGENT_SPEC: ComponentSpec<typeof AGENT_SETTINGS, AgentMode> = {
  component: 'ambit-agent',
  modes: ['file', 'controller'],
  settings: AGENT_SETTINGS,
  mode: (raw) => (raw.get('configFile') ? 'file' : 'controller'),
};

export interface AgentPorts {
  /** In each pod's netns. */
  readonly outbound: number;
  readonly inboundPlaintext: number;
  readonly hbone: number;
  /** The DNS proxy (UDP and TCP on the pod's loopback); absent or 0 = none. */
  readonly dns?: number;
  /** Node level. */
  readonly admin: number;
  readonly metrics: number;
  readonly ready: number;
  /** 0 = off. */
  readonly socks5: number;
}

export interface AgentSettings {
  readonly mode: AgentMode;
  readonly nodeName: string;
  readonly stateDir: string;
  readonly enrolmentSocket: string;
  /** AMBIT_CONFIG_FILE: the mesh snapshot as JSON/YAML (file mode). */
  readonly configFile?: string;
  /** AMBIT_CONTROLLER: discovery + CA address (controller mode). */
  readonly controller?: string;
  /** Controller mode: the root PEM file, the pinned identity and the token file. */
  readonly controllerRoots?: string;
  readonly controllerIdentity?: string;
  readonly tokenFile: string;
  readonly trustDomain: string;
  readonly ports: AgentPorts;
  /** Host the node-level admin and SOCKS5 listeners bind (127.0.0.1). */
  readonly localHost: string;
  /** Host for metrics and readiness (0.0.0.0 in a cluster). */
  readonly publicHost: string;
  /** How long SIGTERM waits for open connections. */
  readonly drainMs: number;
  /** Lifetime of workload certificates: issued in file mode, requested from the controller otherwise. */
  readonly certTtlSeconds: number;
  /** Identity (namespace/serviceAccount) the node-level SOCKS5 proxy presents. */
  readonly socks5Namespace: string;
  readonly socks5ServiceAccount: string;
  /** Controller mode: this node's workloads plus destinations looked up on demand, or the whole mesh. */
  readonly discovery?: 'on-demand' | 'full';
  /** AMBIT_ADMIN_TOKEN: enables the admin port's state-changing endpoints (bearer token). */
  readonly adminToken?: string;
  /** AMBIT_DNS_UPSTREAMS as written; absent = the agent's resolv.conf. */
  readonly dnsUpstreams?: string;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

const optional = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

export function settingsFromEnv(env: Env = process.env): AgentSettings {
  const v = readSettings(AGENT_SPEC, { env });
  const fileMode = v.mode === 'file';
  if (v.socks5Port > 0 && !isLoopback(v.localHost)) {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `AMBIT_SOCKS5_PORT: the SOCKS5 proxy has no authentication and listens only on loopback, not ${v.localHost}`,
      {
        hint: 'leave AMBIT_LOCAL_HOST at 127.0.0.1, or turn SOCKS5 off (AMBIT_SOCKS5_PORT=0)',
      },
    );
  }
  return {
    mode: v.mode,
    nodeName: v.nodeName,
    stateDir: v.stateDir,
    enrolmentSocket: v.enrolmentSocket,
    ...optional('configFile', v.configFile),
    ...(fileMode
      ? {}
      : {
          ...optional('controller', v.controller),
          ...optional('controllerRoots', v.controllerRoots),
          ...optional('controllerIdentity', v.controllerIdentity),
        }),
    tokenFile: v.tokenFile,
    trustDomain: v.trustDomain,
    ports: {
      outbound: v.outboundPort,
      inboundPlaintext: v.inboundPlaintextPort,
      hbone: v.hbonePort,
      dns: v.dnsPort,
      admin: v.adminPort,
      metrics: v.metricsPort,
      ready: v.readyPort,
      socks5: v.socks5Port,
    },
    localHost: v.localHost,
    publicHost: v.publicHost,
    drainMs: v.drainMs,
    certTtlSeconds: v.certTtlSeconds,
    socks5Namespace: v.namespace,
    socks5ServiceAccount: v.serviceAccount,
    discovery: v.discovery,
    ...optional('adminToken', v.adminToken || undefined),
    ...optional('dnsUpstreams', v.dnsUpstreams),
  };
}
