// Agent settings from the environment (CONTRACT: `ambit-agent` takes its settings from env).
// Every port can be overridden so tests can run several agents side by side.
import path from 'node:path';
import { AmbitError } from '../../core/errors.js';
import { envNonNegative, envPort, type Env } from '../../core/config/env.js';
import { DEFAULT_AGENT_SOCKET } from '../../core/enrolment/index.js';

export interface AgentPorts {
  /** In each pod's netns. */
  readonly outbound: number;
  readonly inboundPlaintext: number;
  readonly hbone: number;
  /** Node level. */
  readonly admin: number;
  readonly metrics: number;
  readonly ready: number;
  readonly socks5: number;
}

export interface AgentSettings {
  readonly nodeName: string;
  readonly stateDir: string;
  readonly enrolmentSocket: string;
  /** AMBIT_CONFIG_FILE: the mesh snapshot as JSON/YAML (file mode). */
  readonly configFile?: string;
  /** AMBIT_CONTROLLER: discovery + CA address (controller mode). */
  readonly controller?: string;
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
}

const port = envPort;
const positive = envNonNegative;

export function settingsFromEnv(env: Env = process.env): AgentSettings {
  const stateDir = env.AMBIT_STATE_DIR || '/var/lib/ambit/agent';
  const configFile = env.AMBIT_CONFIG_FILE || undefined;
  const controller = env.AMBIT_CONTROLLER || undefined;
  if (!configFile && !controller) {
    throw new AmbitError('AMBIT_E_CONFIG', 'the agent needs a config source: set AMBIT_CONFIG_FILE or AMBIT_CONTROLLER', {
      hint: 'AMBIT_CONFIG_FILE=<mesh snapshot JSON/YAML> for file mode',
    });
  }
  return {
    nodeName: env.AMBIT_NODE_NAME || env.HOSTNAME || 'local',
    stateDir: path.resolve(stateDir),
    enrolmentSocket: env.AMBIT_AGENT_SOCKET || DEFAULT_AGENT_SOCKET,
    ...(configFile ? { configFile: path.resolve(configFile) } : {}),
    ...(controller ? { controller } : {}),
    trustDomain: env.AMBIT_TRUST_DOMAIN || 'cluster.local',
    ports: {
      outbound: port(env, 'AMBIT_OUTBOUND_PORT', 15001),
      inboundPlaintext: port(env, 'AMBIT_INBOUND_PLAINTEXT_PORT', 15006),
      hbone: port(env, 'AMBIT_HBONE_PORT', 15008),
      admin: port(env, 'AMBIT_ADMIN_PORT', 15000),
      metrics: port(env, 'AMBIT_METRICS_PORT', 15020),
      ready: port(env, 'AMBIT_READY_PORT', 15021),
      socks5: port(env, 'AMBIT_SOCKS5_PORT', 15080),
    },
    localHost: env.AMBIT_LOCAL_HOST || '127.0.0.1',
    publicHost: env.AMBIT_PUBLIC_HOST || '0.0.0.0',
    drainMs: positive(env, 'AMBIT_DRAIN_MS', 5000),
    certTtlSeconds: positive(env, 'AMBIT_CERT_TTL_SECONDS', 24 * 3600),
    socks5Namespace: env.AMBIT_NAMESPACE || 'ambit-system',
    socks5ServiceAccount: env.AMBIT_SERVICE_ACCOUNT || 'ambit-agent',
  };
}
