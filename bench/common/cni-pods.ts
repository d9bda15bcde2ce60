// "Pods" for benchmarks on one Linux host, networked the way a kubelet does it: a network
// namespace per pod, then the CNI chain of a conflist run per the CNI spec — the reference
// `bridge` + `host-local` plugins (/usr/lib/cni) followed by `ambit-cni` (dist/cni/main.js),
// which enrols the pod with the agent when its namespace is ambient. Needs root. Every name
// starts with the caller's prefix (e.g. `ambt-bench-`) so leftovers can be swept.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEM_CNI_DIR = '/usr/lib/cni';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(fileURLToPath(import.meta.url).includes('/dist/') ? ['..'] : []));

export interface PodNetwork {
  /** Prefix of every netns name, e.g. 'ambt-bench-'. */
  readonly prefix: string;
  /** Bridge name (≤ 15 characters). */
  readonly bridge: string;
  /** host-local subnet, e.g. '10.231.200.0/24'; the bridge (pods' default gateway) is .1. */
  readonly subnet: string;
  readonly agentSocket: string;
  readonly dir: string;
  readonly cniPath: string;
  readonly plugins: ReadonlyArray<Record<string, unknown>>;
}

export interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly netns: string;
  readonly netnsPath: string;
  readonly containerId: string;
  readonly ip: string;
  readonly result: Record<string, unknown>;
}

function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = execFile(cmd, [...args], { env: env ?? process.env, timeout: 60_000 }, (err, stdout, stderr) => {
      res({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin ?? '');
  });
}

export function createPodNetwork(opts: { prefix: string; bridge: string; subnet: string; agentSocket: string }): PodNetwork {
  const dir = mkdtempSync(join(tmpdir(), `${opts.prefix}cni-`));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const main = join(REPO, 'dist', 'cni', 'main.js');
  writeFileSync(join(bin, 'ambit-cni'), `#!/bin/sh\nexec "${process.execPath}" "${main}" "$@"\n`);
  chmodSync(join(bin, 'ambit-cni'), 0o755);
  const plugins = [
    { type: 'bridge', bridge: opts.bridge, isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', subnet: opts.subnet, dataDir: join(dir, 'ipam') } },
    { type: 'ambit-cni', agentSocket: opts.agentSocket },
  ];
  return { ...opts, dir, cniPath: `${bin}:${SYSTEM_CNI_DIR}`, plugins };
}

async function chain(net: PodNetwork, pod: Omit<Pod, 'ip' | 'result'>, command: 'ADD' | 'DEL', cached?: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const plugins = command === 'DEL' ? [...net.plugins].reverse() : net.plugins;
  let prev = cached;
  for (const plugin of plugins) {
    const type = String(plugin.type);
    const exe = type === 'ambit-cni' ? join(net.dir, 'bin', 'ambit-cni') : join(SYSTEM_CNI_DIR, type);
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: pod.containerId, CNI_NETNS: pod.netnsPath,
      CNI_IFNAME: 'eth0', CNI_PATH: net.cniPath,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}`,
    };
    const stdin = JSON.stringify({ ...plugin, cniVersion: '1.0.0', name: `${net.prefix}net`, ...(prev ? { prevResult: prev } : {}) });
    const out = await run(exe, [], env, stdin);
    if (out.code !== 0) throw new Error(`CNI ${type} ${command} for ${pod.namespace}/${pod.name} failed (exit ${out.code}): ${out.stdout.trim() || out.stderr.trim()}`);
    if (command === 'ADD') prev = JSON.parse(out.stdout) as Record<string, unknown>;
  }
  return prev;
}

/** A netns `<prefix><name>` with the CNI chain's ADD run for it, and a default route via the bridge. */
export async function createPod(net: PodNetwork, namespace: string, name: string): Promise<Pod> {
  const netns = `${net.prefix}${name}`;
  await run('ip', ['netns', 'del', netns]);
  const add = await run('ip', ['netns', 'add', netns]);
  if (add.code !== 0) throw new Error(`ip netns add ${netns}: ${add.stderr.trim()}`);
  await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  const base = { namespace, name, uid: randomUUID(), netns, netnsPath: `/var/run/netns/${netns}`, containerId: randomBytes(32).toString('hex') };
  try {
    const result = (await chain(net, base, 'ADD'))!;
    const ip = ((result.ips ?? []) as Array<{ address?: string }>).map((e) => (e.address ?? '').split('/')[0]!).find((a) => a.includes('.'));
    if (!ip) throw new Error(`CNI result for ${name} has no IPv4 address`);
    // host-local returns no route here; a cluster pod has a default route (Service VIPs use it).
    const gw = await run('ip', ['-n', netns, 'route', 'replace', 'default', 'via', net.subnet.replace(/\.\d+\/\d+$/, '.1')]);
    if (gw.code !== 0) throw new Error(`default route in ${netns}: ${gw.stderr.trim()}`);
    return { ...base, ip, result };
  } catch (err) {
    await chain(net, base, 'DEL').catch(() => undefined);
    await run('ip', ['netns', 'del', netns]);
    throw err;
  }
}

export async function deletePod(net: PodNetwork, pod: Pod): Promise<void> {
  try { await chain(net, pod, 'DEL', pod.result); } finally { await run('ip', ['netns', 'del', pod.netns]); }
}

/**
 * Synchronous sweep of everything with the prefix: netns, the bridge, the temp dir. Safe at
 * any time (start of a run, exit hook after a failure); errors are ignored.
 */
export function sweepPodNetwork(prefix: string, bridge: string, dir?: string): void {
  const quiet = { stdio: 'ignore' as const };
  let names: string[] = [];
  try { names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix)); } catch { /* no ip */ }
  for (const n of names) { try { execFileSync('ip', ['netns', 'del', n], quiet); } catch { /* gone */ } }
  try { execFileSync('ip', ['link', 'del', bridge], quiet); } catch { /* gone */ }
  if (dir) rmSync(dir, { recursive: true, force: true });
}
