// `ambit-waypoint` settings from the environment, as the agent takes its own.
import { AmbitError } from '../../core/errors.js';
import { envNonNegative, envPort, type Env } from '../../core/config/env.js';

export interface WaypointSettings {
  readonly mode: 'waypoint' | 'ingress-gateway' | 'egress-gateway';
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly trustDomain: string;
  readonly podIp: string;
  /** File mode: a WaypointConfig as JSON or YAML, hot-reloaded. */
  readonly configFile?: string;
  readonly stateDir: string;
  /** Controller mode. */
  readonly controller?: string;
  readonly ports: { readonly hbone: number; readonly admin: number; readonly metrics: number; readonly ready: number };
  readonly hboneHost: string;
  /** HBONE port of the endpoints (agents). */
  readonly upstreamHbonePort: number;
  readonly accessLogging: boolean;
  readonly certTtlSeconds: number;
}

const port = envPort;

export function waypointSettings(argv: readonly string[], env: Env = process.env): WaypointSettings {
  const modeIndex = argv.indexOf('--mode');
  const mode = (modeIndex >= 0 ? argv[modeIndex + 1] : env.AMBIT_WAYPOINT_MODE) ?? 'waypoint';
  if (mode !== 'waypoint' && mode !== 'ingress-gateway' && mode !== 'egress-gateway') {
    throw new AmbitError('AMBIT_E_CONFIG', `--mode: unknown mode "${mode}"`, { hint: 'waypoint, ingress-gateway or egress-gateway' });
  }
  const namespace = env.POD_NAMESPACE;
  if (!namespace) throw new AmbitError('AMBIT_E_CONFIG', 'POD_NAMESPACE is not set', { hint: 'the namespace whose waypoint this is' });
  if (!env.AMBIT_WAYPOINT_CONFIG_FILE && !env.AMBIT_CONTROLLER) {
    throw new AmbitError('AMBIT_E_CONFIG', 'neither AMBIT_CONTROLLER nor AMBIT_WAYPOINT_CONFIG_FILE is set', { hint: 'point the waypoint at the controller (host:15012) or at a config file' });
  }
  return {
    mode,
    namespace,
    serviceAccount: env.SERVICE_ACCOUNT || 'waypoint',
    trustDomain: env.AMBIT_TRUST_DOMAIN || 'cluster.local',
    podIp: env.POD_IP || env.AMBIT_POD_IP || '127.0.0.1',
    ...(env.AMBIT_WAYPOINT_CONFIG_FILE ? { configFile: env.AMBIT_WAYPOINT_CONFIG_FILE } : {}),
    ...(env.AMBIT_CONTROLLER ? { controller: env.AMBIT_CONTROLLER } : {}),
    stateDir: env.AMBIT_STATE_DIR || '/var/run/ambit-waypoint',
    ports: {
      hbone: port(env, 'AMBIT_HBONE_PORT', 15008),
      admin: port(env, 'AMBIT_ADMIN_PORT', 15000),
      metrics: port(env, 'AMBIT_METRICS_PORT', 15020),
      ready: port(env, 'AMBIT_READY_PORT', 15021),
    },
    hboneHost: env.AMBIT_HBONE_HOST || '0.0.0.0',
    upstreamHbonePort: port(env, 'AMBIT_UPSTREAM_HBONE_PORT', 15008),
    // Off unless asked for, as Istio's meshConfig.accessLogFile (the demo profile turns it on).
    accessLogging: env.AMBIT_ACCESS_LOG === 'true',
    certTtlSeconds: envNonNegative(env, 'AMBIT_CERT_TTL_SECONDS', 86_400),
  };
}
