// What a kubelet + container runtime do for a pod's network, on this machine: create the
// netns, run the conflist's chain (the reference `bridge` + `host-local` plugins from
// /usr/lib/cni, then `ambit-cni`) per the CNI spec — config on stdin with name, cniVersion
// and prevResult; CNI_* env; ADD in order, DEL in reverse with the cached result — and the
// reverse on teardown. The pod IP is requested from host-local (`CNI_ARGS` IP=) so the
// controller knows it before the ADD.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AmbitError } from '../../core/errors.js';
import { builtMain } from './paths.js';

export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export interface PluginConf { type: string; [key: string]: unknown }
export interface Conflist { cniVersion: string; name: string; plugins: PluginConf[] }

export interface LocalNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly conflist: Conflist;
  /** Where ambit-cni's launcher lives (first entry of CNI_PATH). */
  readonly binDir: string;
  readonly cniPath: string;
}

export interface PodNetworkRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly netnsName: string;
  readonly containerId: string;
  readonly ifName: string;
  readonly ip: string;
  /** The chain's final ADD result (kept for CHECK/DEL, as a runtime caches it). */
  readonly result?: Record<string, unknown>;
}

export interface ExecResult { code: number; stdout: string; stderr: string }

export function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code === 'string') { reject(new AmbitError('AMBIT_E_NETNS', `${cmd}: ${err.message}`, { hint: `is ${cmd} installed (iproute2, containernetworking-plugins)?` })); return; }
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.stdin ?? '');
  });
}

/** Writes the ambit-cni launcher (this Node, dist/cni/main.js) and the conflist for the local bridge. */
export async function prepareNetwork(opts: { stateDir: string; bridge: string; subnet: string; gateway: string; agentSocket: string }): Promise<LocalNetwork> {
  const binDir = path.join(opts.stateDir, 'cni-bin');
  await mkdir(binDir, { recursive: true });
  const main = builtMain('cni');
  await writeFile(path.join(binDir, 'ambit-cni'), `#!/bin/sh\nexec "${process.execPath}" "${main}" "$@"\n`);
  await chmod(path.join(binDir, 'ambit-cni'), 0o755);
  const conflist: Conflist = {
    cniVersion: '1.0.0', name: `ambit-local-${opts.bridge}`,
    plugins: [
      {
        type: 'bridge', bridge: opts.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
        // The default route (via the bridge) carries Service VIPs, which the pod's capture rules
        // redirect to the agent before they ever leave the netns.
        ipam: { type: 'host-local', ranges: [[{ subnet: opts.subnet, gateway: opts.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(opts.stateDir, 'ipam') },
      },
      { type: 'ambit-cni', agentSocket: opts.agentSocket, addTimeoutMs: 60_000 },
    ],
  };
  await writeFile(path.join(opts.stateDir, '10-ambit-local.conflist'), JSON.stringify(conflist, null, 2));
  return { bridge: opts.bridge, subnet: opts.subnet, conflist, binDir, cniPath: `${binDir}:${SYSTEM_CNI_DIR}` };
}

function pluginExecutable(net: LocalNetwork, type: string): string {
  return type === 'ambit-cni' ? path.join(net.binDir, 'ambit-cni') : path.join(SYSTEM_CNI_DIR, type);
}

function pluginEnv(net: LocalNetwork, pod: PodNetworkRecord, command: string): NodeJS.ProcessEnv {
  const args = [`IgnoreUnknown=1`, `K8S_POD_NAMESPACE=${pod.namespace}`, `K8S_POD_NAME=${pod.name}`, `K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`, `K8S_POD_UID=${pod.uid}`];
  if (command === 'ADD') args.push(`IP=${pod.ip}`);
  return {
    PATH: process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command, CNI_CONTAINERID: pod.containerId, CNI_NETNS: `/var/run/netns/${pod.netnsName}`,
    CNI_IFNAME: pod.ifName, CNI_PATH: net.cniPath, CNI_ARGS: args.join(';'),
  };
}

async function runChain(net: LocalNetwork, pod: PodNetworkRecord, command: 'ADD' | 'DEL' | 'CHECK', cached?: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const plugins = command === 'DEL' ? [...net.conflist.plugins].reverse() : net.conflist.plugins;
  let prev = command === 'ADD' ? undefined : cached;
  const errors: string[] = [];
  for (const plugin of plugins) {
    const stdin = JSON.stringify({ ...plugin, cniVersion: net.conflist.cniVersion, name: net.conflist.name, ...(prev ? { prevResult: prev } : {}) });
    const out = await run(pluginExecutable(net, plugin.type), [], { env: pluginEnv(net, pod, command), stdin });
    let json: Record<string, unknown> | undefined;
    try { json = out.stdout.trim() ? (JSON.parse(out.stdout) as Record<string, unknown>) : undefined; } catch { json = undefined; }
    if (out.code !== 0) {
      const msg = `${plugin.type} ${command} for ${pod.namespace}/${pod.name} failed (exit ${out.code}): ${json ? `${String(json.msg)} ${String(json.details ?? '')}` : out.stderr.trim()}`;
      // DEL goes on through the chain: every plugin releases what it holds.
      if (command === 'DEL') { errors.push(msg); continue; }
      throw new AmbitError('AMBIT_E_CNI', msg);
    }
    if (command === 'ADD') {
      if (!json) throw new AmbitError('AMBIT_E_CNI', `${plugin.type} ADD for ${pod.namespace}/${pod.name}: no result on stdout`);
      prev = json;
    }
  }
  if (errors.length > 0) throw new AmbitError('AMBIT_E_CNI', errors.join('; '));
  return prev;
}

/** Creates the pod's netns and runs ADD along the chain; on failure the chain is DELeted and the netns removed. */
export async function addPodNetwork(net: LocalNetwork, pod: { namespace: string; name: string; uid: string; netnsName: string; ip: string }): Promise<PodNetworkRecord> {
  await run('ip', ['netns', 'del', pod.netnsName]); // left over by a crash
  const add = await run('ip', ['netns', 'add', pod.netnsName]);
  if (add.code !== 0) throw new AmbitError('AMBIT_E_NETNS', `ip netns add ${pod.netnsName}: ${add.stderr.trim()}`, { hint: 'local up needs root (or a user namespace)' });
  await run('ip', ['-n', pod.netnsName, 'link', 'set', 'lo', 'up']);
  const rec: PodNetworkRecord = { ...pod, containerId: randomBytes(32).toString('hex'), ifName: 'eth0' };
  try {
    const result = (await runChain(net, rec, 'ADD'))!;
    const ips = Array.isArray(result.ips) ? (result.ips as Array<{ address?: string }>).map((e) => (e.address ?? '').split('/')[0]) : [];
    if (!ips.includes(pod.ip)) throw new AmbitError('AMBIT_E_CNI', `${pod.namespace}/${pod.name}: host-local assigned ${ips.join(',') || 'no address'} instead of the planned ${pod.ip}`);
    return { ...rec, result };
  } catch (err) {
    await runChain(net, rec, 'DEL').catch(() => undefined);
    await run('ip', ['netns', 'del', pod.netnsName]);
    throw err;
  }
}

/** DEL along the chain in reverse, then remove the netns. Never throws for a pod already gone. */
export async function deletePodNetwork(net: LocalNetwork, pod: PodNetworkRecord): Promise<string | undefined> {
  let problem: string | undefined;
  try {
    await runChain(net, pod, 'DEL', pod.result);
  } catch (err) {
    problem = (err as Error).message;
  }
  await run('ip', ['netns', 'del', pod.netnsName]);
  return problem;
}

export async function deleteBridge(bridge: string): Promise<void> {
  await run('ip', ['link', 'del', bridge]);
}
