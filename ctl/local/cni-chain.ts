// The CNI chain runner: what a kubelet + container runtime do for a pod's network, per the CNI
// spec: create the pod's netns, run the conflist's plugins in order (config on stdin with name,
// cniVersion and prevResult; CNI_* environment; each plugin found along CNI_PATH), DEL in
// reverse with the cached result, and the netns removed again. The one runner of the tree:
// `local up` (cni.ts), the netns test suites (test/support/cni-chain.ts) and the benches
// (bench/common/cni-pods.ts) build on it. Needs root (or a user namespace).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AmbitError } from '../../core/errors.js';

export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export interface PluginConf {
  type: string;
  [key: string]: unknown;
}
export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

/** A conflist and where its plugins are (CNI_PATH: searched in order, as libcni does). */
export interface CniNetwork {
  readonly conflist: Conflist;
  readonly cniPath: string;
}

/** What the runtime keeps of a pod's network (what DEL and CHECK need). */
export interface CniPodRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly netnsName: string;
  readonly containerId: string;
  readonly ifName: string;
  /** The pod's IPv4 address (the chain's result). */
  readonly ip: string;
  /** The pod's IPv6 address, on a dual-stack chain. */
  readonly ip6?: string;
  /** The chain's final ADD result (kept for CHECK/DEL, as a runtime caches it). */
  readonly result?: Record<string, unknown>;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';
/** A pod as the chain sees it: its netns by name (under /var/run/netns) or by path. */
type ChainPod = Pick<CniPodRecord, 'namespace' | 'name' | 'uid' | 'containerId' | 'ifName'> & {
  netnsName?: string;
  netnsPath?: string;
};

export const netnsPathOf = (netnsName: string): string => `/var/run/netns/${netnsName}`;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; rejects only when it cannot be started (an exit code is a result). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code === 'string') {
          reject(
            new AmbitError('AMBIT_E_NETNS', `${cmd}: ${err.message}`, {
              hint: `is ${cmd} installed (iproute2, containernetworking-plugins)?`,
            }),
          );
          return;
        }
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.stdin ?? '');
  });
}

export interface InvokeResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

/** Runs one plugin executable per the CNI spec; never throws on a plugin error. */
export async function invokePlugin(
  executable: string,
  env: Record<string, string>,
  stdin: string,
): Promise<InvokeResult> {
  const out = await run(executable, [], {
    env: { PATH: process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    stdin,
  });
  let json: Record<string, unknown> | undefined;
  try {
    json = out.stdout.trim() ? (JSON.parse(out.stdout) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { exitCode: out.code, stdout: out.stdout, stderr: out.stderr, json };
}

/** A plugin answered with an error (CNI error JSON on stdout, non-zero exit). */
export class CniPluginError extends AmbitError {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly exitCode: number,
    readonly output: Record<string, unknown> | undefined,
    readonly stderr: string,
    pod?: string,
  ) {
    super(
      'AMBIT_E_CNI',
      `${plugin} ${command} failed${pod ? ` for ${pod}` : ''} (exit ${exitCode}): ${output ? `${String(output.msg)} ${String(output.details ?? '')}` : stderr.trim()}`,
    );
  }
}

/** An `ambit-cni` executable's text: runs `main` (a built or bundled cni/main) with this Node. */
export const cniLauncherScript = (main: string): string => `#!/bin/sh\nexec "${process.execPath}" "${main}" "$@"\n`;

/** Writes the `ambit-cni` launcher into `binDir`; returns its path. */
export async function writeCniLauncher(binDir: string, main: string): Promise<string> {
  const target = path.join(binDir, 'ambit-cni');
  await writeFile(target, cniLauncherScript(main));
  await chmod(target, 0o755);
  return target;
}

/** The conflist `local up`, the tests and the benches use: bridge + host-local, then ambit-cni. */
export function bridgeConflist(o: {
  name: string;
  bridge: string;
  subnet: string;
  dataDir: string;
  /** The bridge's address (host-local's default: the subnet's first address). */
  gateway?: string;
  /** A second range (dual-stack pods). */
  subnet6?: string;
  /** A default route via the bridge (Service VIPs use it before the capture redirects them). */
  defaultRoute?: boolean;
  /** ambit-cni's conf; omitted: the chain ends with the bridge plugin. */
  ambit?: { agentSocket?: string; addTimeoutMs?: number };
  cniVersion?: string;
}): Conflist {
  const ranges = [
    [{ subnet: o.subnet, ...(o.gateway ? { gateway: o.gateway } : {}) }],
    ...(o.subnet6 ? [[{ subnet: o.subnet6 }]] : []),
  ];
  const plugins: PluginConf[] = [
    {
      type: 'bridge',
      bridge: o.bridge,
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        ranges,
        ...(o.defaultRoute ? { routes: [{ dst: '0.0.0.0/0' }] } : {}),
        dataDir: o.dataDir,
      },
    },
  ];
  if (o.ambit) plugins.push({ type: 'ambit-cni', ...o.ambit });
  return { cniVersion: o.cniVersion ?? '1.0.0', name: o.name, plugins };
}

/** Where the plugin `type` is: the first CNI_PATH entry holding it. */
export function pluginExecutable(net: CniNetwork, type: string): string {
  const dirs = net.cniPath.split(':').filter(Boolean);
  return path.join(dirs.find((d) => existsSync(path.join(d, type))) ?? dirs[0] ?? SYSTEM_CNI_DIR, type);
}

/** The stdin config of one plugin of the chain, as libcni builds it. */
export function pluginStdin(net: CniNetwork, plugin: PluginConf, prevResult?: Record<string, unknown>): string {
  return JSON.stringify({
    ...plugin,
    cniVersion: net.conflist.cniVersion,
    name: net.conflist.name,
    ...(prevResult ? { prevResult } : {}),
  });
}

/** The CNI_* environment for a pod; `requestIp` asks host-local for that address (CNI_ARGS IP=). */
export function pluginEnv(net: CniNetwork, pod: ChainPod, command: string, requestIp?: string): Record<string, string> {
  const args = [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${pod.namespace}`,
    `K8S_POD_NAME=${pod.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
    `K8S_POD_UID=${pod.uid}`,
  ];
  if (requestIp && command === 'ADD') args.push(`IP=${requestIp}`);
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: pod.netnsPath ?? (pod.netnsName ? netnsPathOf(pod.netnsName) : ''),
    CNI_IFNAME: pod.ifName,
    CNI_PATH: net.cniPath,
    CNI_ARGS: args.join(';'),
  };
}

/**
 * Runs the chain: ADD and CHECK in order (stopping at the first error), DEL in reverse, going
 * on through errors so every plugin releases what it holds. Returns ADD's final result.
 */
export async function runChain(
  net: CniNetwork,
  pod: ChainPod,
  command: CniCommand,
  opts: { cached?: Record<string, unknown>; requestIp?: string } = {},
): Promise<Record<string, unknown> | undefined> {
  const plugins = command === 'DEL' ? [...net.conflist.plugins].reverse() : net.conflist.plugins;
  let prev = command === 'ADD' ? undefined : opts.cached;
  const errors: CniPluginError[] = [];
  const who = `${pod.namespace}/${pod.name}`;
  for (const plugin of plugins) {
    const out = await invokePlugin(
      pluginExecutable(net, plugin.type),
      pluginEnv(net, pod, command, opts.requestIp),
      pluginStdin(net, plugin, prev),
    );
    if (out.exitCode !== 0) {
      const err = new CniPluginError(plugin.type, command, out.exitCode, out.json, out.stderr, who);
      if (command !== 'DEL') throw err;
      errors.push(err);
      continue;
    }
    if (command === 'ADD') {
      if (!out.json)
        throw new CniPluginError(plugin.type, command, 0, undefined, `no result on stdout: ${out.stdout}`, who);
      prev = out.json;
    }
  }
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new AmbitError('AMBIT_E_CNI', errors.map((e) => e.message).join('; '));
  return prev;
}

const addressesOf = (result: Record<string, unknown>): string[] =>
  (Array.isArray(result.ips) ? (result.ips as Array<{ address?: string }>) : []).map(
    (e) => (e.address ?? '').split('/')[0]!,
  );

/**
 * Creates the pod's netns (removing one a crash left) and runs ADD along the chain; `ip`
 * requests that address and checks it was given. On failure the chain is DELeted and the
 * netns removed.
 */
export async function addPodNetwork(
  net: CniNetwork,
  pod: { namespace: string; name: string; uid: string; netnsName: string; ip?: string },
): Promise<CniPodRecord> {
  await run('ip', ['netns', 'del', pod.netnsName]);
  const add = await run('ip', ['netns', 'add', pod.netnsName]);
  if (add.code !== 0)
    throw new AmbitError('AMBIT_E_NETNS', `ip netns add ${pod.netnsName}: ${add.stderr.trim()}`, {
      hint: 'this needs root (or a user namespace)',
    });
  await run('ip', ['-n', pod.netnsName, 'link', 'set', 'lo', 'up']);
  const base = {
    namespace: pod.namespace,
    name: pod.name,
    uid: pod.uid,
    netnsName: pod.netnsName,
    containerId: randomBytes(32).toString('hex'),
    ifName: 'eth0',
  };
  try {
    const result = (await runChain(net, base, 'ADD', pod.ip ? { requestIp: pod.ip } : {}))!;
    const ips = addressesOf(result);
    const ip = pod.ip ?? ips.find((a) => a.includes('.'));
    if (!ip)
      throw new AmbitError(
        'AMBIT_E_CNI',
        `${pod.namespace}/${pod.name}: the chain's result has no IPv4 address: ${JSON.stringify(result)}`,
      );
    if (!ips.includes(ip))
      throw new AmbitError(
        'AMBIT_E_CNI',
        `${pod.namespace}/${pod.name}: host-local assigned ${ips.join(',') || 'no address'} instead of the requested ${ip}`,
      );
    const ip6 = ips.find((a) => a.includes(':'));
    return { ...base, ip, ...(ip6 ? { ip6 } : {}), result };
  } catch (err) {
    await runChain(net, base, 'DEL').catch(() => undefined);
    await run('ip', ['netns', 'del', pod.netnsName]);
    throw err;
  }
}

/** CHECK along the chain (throws CniPluginError when a plugin reports a problem). */
export async function checkPodNetwork(net: CniNetwork, pod: CniPodRecord): Promise<void> {
  await runChain(net, pod, 'CHECK', pod.result ? { cached: pod.result } : {});
}

/** DEL along the chain in reverse, then removes the netns (also when a plugin failed, which then throws). Safe to repeat. */
export async function deletePodNetwork(net: CniNetwork, pod: CniPodRecord): Promise<void> {
  try {
    await runChain(net, pod, 'DEL', pod.result ? { cached: pod.result } : {});
  } finally {
    await run('ip', ['netns', 'del', pod.netnsName]);
  }
}
