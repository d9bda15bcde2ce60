// Parsing of what the runtime hands a CNI plugin: the network config on stdin (with the
// previous plugin's result when chained) and the CNI_* environment.
import { isIP } from 'node:net';
import { DEFAULT_AGENT_SOCKET } from '../../core/enrolment/index.js';
import { CNI_CODES, CniError } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export const DEFAULT_ADD_TIMEOUT_MS = 30_000;

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface PluginConfig {
  cniVersion: string;
  name: string;
  type: string;
  agentSocket: string;
  /** How long ADD waits for the agent's ack (listeners up, certificate held). */
  addTimeoutMs: number;
  /** The previous plugin's result, returned unchanged by ADD. */
  prevResult?: Record<string, unknown>;
}

export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifName: string;
  path: string;
  args: Record<string, string>;
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** Compare dotted versions: <0, 0, >0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse the stdin network config; throws CniError with the spec's code. */
export function parseConfig(stdin: string): PluginConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(
      CNI_CODES.DECODE_FAILURE,
      'failed to decode the network configuration on stdin',
      (err as Error).message,
    );
  }
  if (!isObject(raw))
    throw new CniError(CNI_CODES.DECODE_FAILURE, 'the network configuration on stdin is not a JSON object');
  const { cniVersion, name, type } = raw;
  if (typeof cniVersion !== 'string' || cniVersion === '')
    throw new CniError(CNI_CODES.INVALID_CONFIG, 'network configuration: cniVersion is required');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(
      CNI_CODES.INCOMPATIBLE_VERSION,
      `incompatible CNI version ${cniVersion}`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  if (typeof name !== 'string' || name === '')
    throw new CniError(CNI_CODES.INVALID_CONFIG, 'network configuration: name is required');
  if (typeof type !== 'string' || type === '')
    throw new CniError(CNI_CODES.INVALID_CONFIG, 'network configuration: type is required');
  const agentSocket = raw.agentSocket ?? DEFAULT_AGENT_SOCKET;
  if (typeof agentSocket !== 'string' || agentSocket === '')
    throw new CniError(CNI_CODES.INVALID_CONFIG, 'network configuration: agentSocket must be a non-empty string');
  const addTimeoutMs = raw.addTimeoutMs ?? DEFAULT_ADD_TIMEOUT_MS;
  if (typeof addTimeoutMs !== 'number' || !(addTimeoutMs > 0))
    throw new CniError(CNI_CODES.INVALID_CONFIG, 'network configuration: addTimeoutMs must be a positive number');
  const conf: PluginConfig = { cniVersion, name, type, agentSocket, addTimeoutMs };
  if (raw.prevResult !== undefined) {
    if (!isObject(raw.prevResult))
      throw new CniError(CNI_CODES.INVALID_CONFIG, 'network configuration: prevResult must be an object');
    conf.prevResult = raw.prevResult;
  }
  return conf;
}

/** CNI_ARGS: "K1=V1;K2=V2". */
export function parseCniArgs(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (value ?? '').split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_CODES.INVALID_ENV, `CNI_ARGS: invalid pair "${pair}" (expected KEY=VALUE)`);
    // defineProperty: a key such as __proto__ is kept as data, never taken as the prototype.
    Object.defineProperty(out, pair.slice(0, eq), {
      value: pair.slice(eq + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'VERSION'];

/** Read and validate the CNI_* environment for `command`. */
export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND;
  if (!command)
    throw new CniError(CNI_CODES.INVALID_ENV, 'CNI_COMMAND is not set', 'expected ADD, DEL, CHECK or VERSION');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(
      CNI_CODES.INVALID_ENV,
      `unknown CNI_COMMAND "${command}"`,
      'expected ADD, DEL, CHECK or VERSION',
    );
  }
  const cmd = command as Command;
  const need = (key: string, required: boolean): string => {
    const v = env[key] ?? '';
    if (required && v === '') throw new CniError(CNI_CODES.INVALID_ENV, `${key} is required for ${cmd}`);
    return v;
  };
  const isVersion = cmd === 'VERSION';
  return {
    command: cmd,
    containerId: need('CNI_CONTAINERID', !isVersion),
    // DEL may come without a netns (the sandbox is already gone)
    netns: need('CNI_NETNS', cmd === 'ADD' || cmd === 'CHECK'),
    ifName: need('CNI_IFNAME', !isVersion),
    path: need('CNI_PATH', cmd === 'ADD' || cmd === 'CHECK'),
    args: isVersion ? {} : parseCniArgs(env.CNI_ARGS),
  };
}

/** The Kubernetes pod from CNI_ARGS, or undefined for a container that is not a pod. */
export function podRef(env: CniEnv): PodRef | undefined {
  const namespace = env.args.K8S_POD_NAMESPACE;
  const name = env.args.K8S_POD_NAME;
  if (!namespace || !name) return undefined;
  // Runtimes that do not pass K8S_POD_UID still give the same container id to ADD and DEL.
  return { namespace, name, uid: env.args.K8S_POD_UID || `container:${env.containerId}` };
}

/** The pod's addresses from the previous result: IPs on interfaces inside the pod's netns. */
export function podIps(prevResult: Record<string, unknown>, netns: string): string[] {
  const ips = Array.isArray(prevResult.ips) ? prevResult.ips : [];
  const interfaces = Array.isArray(prevResult.interfaces) ? prevResult.interfaces : [];
  const out: string[] = [];
  for (const entry of ips) {
    if (!isObject(entry) || typeof entry.address !== 'string') continue;
    if (typeof entry.interface === 'number') {
      const itf: unknown = interfaces[entry.interface];
      // only addresses on an interface in the sandbox (not the host side of a veth/bridge)
      if (isObject(itf) && typeof itf.sandbox === 'string' && itf.sandbox !== '' && itf.sandbox !== netns) continue;
      if (isObject(itf) && (itf.sandbox === undefined || itf.sandbox === '')) continue;
    }
    const ip = entry.address.split('/')[0] ?? '';
    if (isIP(ip) !== 0 && !out.includes(ip)) out.push(ip);
  }
  return out;
}
