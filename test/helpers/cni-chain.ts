// What a kubelet + container runtime do for a pod's network, for tests on one Linux host:
// create a netns, run the CNI chain of a conflist (the reference `bridge` + `host-local`
// plugins from /usr/lib/cni, then `ambit-cni`) per the CNI spec (config on stdin with
// name/cniVersion/prevResult, CNI_* env), and the reverse DEL. Needs root.
//
//   const chain = await createCniChain({ suite: 'h3', bridge: 'ambt-h3-br0', subnet: '10.231.3.0/24', agentSocket });
//   const pod = await createPodNetns(chain, { namespace: 'shop', name: 'web-1' });   // pod.ip, pod.netnsPath
//   await deletePodNetns(chain, pod);
//   await destroyCniChain(chain);                                                     // bridge + temp dir
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SYSTEM_CNI_DIR = '/usr/lib/cni';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CniChainOptions {
  /** Short tag used in names (netns `ambt-<suite>-<pod>`), e.g. 'h3'. */
  suite: string;
  /** Linux bridge the `bridge` plugin creates (≤ 15 chars), e.g. 'ambt-h3-br0'. */
  bridge: string;
  /** host-local subnet, one per test suite, e.g. '10.231.3.0/24'; the bridge gets .1. */
  subnet: string;
  /** Optional IPv6 subnet (dual-stack pods), e.g. 'fd00:a4:1::/64'. */
  subnet6?: string;
  /** Agent socket ambit-cni asks (its conf `agentSocket`). */
  agentSocket?: string;
  /** Include ambit-cni at the end of the chain (default true). */
  withAmbit?: boolean;
  /** cniVersion of the conflist (default 1.0.0). */
  cniVersion?: '1.0.0' | '0.4.0';
  /** ADD timeout ambit-cni waits for the agent's ack (conf `addTimeoutMs`). */
  addTimeoutMs?: number;
  /** An ambit-cni executable to run (e.g. the SEA binary); default: a fresh bundle of cni/main.ts. */
  plugin?: string;
}

export interface PluginConf { type: string; [key: string]: unknown }
export interface Conflist { cniVersion: string; name: string; plugins: PluginConf[] }

export interface CniChain {
  readonly opts: CniChainOptions;
  /** Temp dir: bin/ (ambit-cni launcher), ipam/ (host-local data). */
  readonly dir: string;
  readonly conflist: Conflist;
  /** CNI_PATH: our bin dir, then the system plugins. */
  readonly cniPath: string;
}

export interface PodRequest { namespace: string; name: string; uid?: string; netnsName?: string }

export interface PodNetns {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly netnsName: string;
  readonly netnsPath: string;
  readonly containerId: string;
  readonly ifName: string;
  /** The pod's IPv4 address (from the chain's result). */
  readonly ip: string;
  /** The pod's IPv6 address, when the chain has `subnet6`. */
  readonly ip6?: string;
  /** The final result of the ADD chain (what the runtime caches for DEL/CHECK). */
  readonly result: Record<string, unknown>;
}

/** A plugin answered with an error (CNI error JSON on stdout, non-zero exit). */
export class CniPluginError extends Error {
  constructor(readonly plugin: string, readonly command: string, readonly exitCode: number, readonly output: Record<string, unknown> | undefined, readonly stderr: string) {
    super(`${plugin} ${command} failed (exit ${exitCode}): ${output ? `${String(output.msg)} ${String(output.details ?? '')}` : stderr}`);
    this.name = 'CniPluginError';
  }
}

export interface InvokeResult { exitCode: number; stdout: string; stderr: string; json: Record<string, unknown> | undefined }

function exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, (err, stdout, stderr) => res({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }));
  });
}

/** Run a plugin executable per the CNI spec; never throws on a plugin error. */
export function invokePlugin(executable: string, env: Record<string, string>, stdin: string): Promise<InvokeResult> {
  return new Promise((res, rej) => {
    const child = execFile(executable, [], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') { rej(err); return; }
      const exitCode = err ? Number((err as { code?: unknown }).code) : 0;
      let json: Record<string, unknown> | undefined;
      try { json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined; } catch { json = undefined; }
      res({ exitCode, stdout, stderr, json });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}

/** Write an `ambit-cni` executable into `binDir`: a fresh bundle of cni/main.ts (esbuild) or dist/cni/main.js. */
export async function writeAmbitCniExecutable(binDir: string): Promise<string> {
  const target = join(binDir, 'ambit-cni');
  let script: string;
  try {
    const esbuild = await import('esbuild');
    const bundle = join(binDir, 'ambit-cni.mjs');
    await esbuild.build({
      entryPoints: [join(REPO, 'cni', 'main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20',
      outfile: bundle, logLevel: 'silent', packages: 'external', absWorkingDir: REPO,
    });
    script = `#!/bin/sh\nexec "${process.execPath}" "${bundle}" "$@"\n`;
  } catch {
    const main = join(REPO, 'dist', 'cni', 'main.js');
    await stat(main).catch(() => { throw new Error(`${main} is missing: run \`npx tsc -p .\` first`); });
    script = `#!/bin/sh\nexec "${process.execPath}" "${main}" "$@"\n`;
  }
  await writeFile(target, script);
  await chmod(target, 0o755);
  return target;
}

export async function createCniChain(opts: CniChainOptions): Promise<CniChain> {
  const dir = await mkdtemp(join(tmpdir(), `ambit-cni-${opts.suite}-`));
  const binDir = join(dir, 'bin');
  await exec('mkdir', ['-p', binDir]);
  const plugins: PluginConf[] = [
    {
      type: 'bridge', bridge: opts.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: opts.subnet6
        ? { type: 'host-local', ranges: [[{ subnet: opts.subnet }], [{ subnet: opts.subnet6 }]], dataDir: join(dir, 'ipam') }
        : { type: 'host-local', subnet: opts.subnet, dataDir: join(dir, 'ipam') },
    },
  ];
  if (opts.withAmbit !== false) {
    if (opts.plugin) await symlink(resolve(opts.plugin), join(binDir, 'ambit-cni'));
    else await writeAmbitCniExecutable(binDir);
    plugins.push({
      type: 'ambit-cni',
      ...(opts.agentSocket ? { agentSocket: opts.agentSocket } : {}),
      ...(opts.addTimeoutMs ? { addTimeoutMs: opts.addTimeoutMs } : {}),
    });
  }
  const conflist: Conflist = { cniVersion: opts.cniVersion ?? '1.0.0', name: `ambt-${opts.suite}`, plugins };
  return { opts, dir, conflist, cniPath: `${binDir}:${SYSTEM_CNI_DIR}` };
}

function pluginExecutable(chain: CniChain, type: string): string {
  const [own] = chain.cniPath.split(':');
  return type === 'ambit-cni' ? join(own!, 'ambit-cni') : join(SYSTEM_CNI_DIR, type);
}

/** The stdin config of one plugin of the chain, as libcni builds it. */
export function pluginStdin(chain: CniChain, plugin: PluginConf, prevResult?: Record<string, unknown>): string {
  return JSON.stringify({ ...plugin, cniVersion: chain.conflist.cniVersion, name: chain.conflist.name, ...(prevResult ? { prevResult } : {}) });
}

/** The CNI_* environment for a pod. */
export function pluginEnv(chain: CniChain, pod: { namespace: string; name: string; uid: string; containerId: string; netnsPath: string; ifName: string }, command: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: pod.netnsPath,
    CNI_IFNAME: pod.ifName,
    CNI_PATH: chain.cniPath,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}`,
  };
}

async function runChain(chain: CniChain, pod: Parameters<typeof pluginEnv>[1], command: 'ADD' | 'DEL' | 'CHECK', cached?: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const plugins = command === 'DEL' ? [...chain.conflist.plugins].reverse() : chain.conflist.plugins;
  let prev = command === 'ADD' ? undefined : cached;
  for (const plugin of plugins) {
    const out = await invokePlugin(pluginExecutable(chain, plugin.type), pluginEnv(chain, pod, command), pluginStdin(chain, plugin, prev));
    if (out.exitCode !== 0) throw new CniPluginError(plugin.type, command, out.exitCode, out.json, out.stderr);
    if (command === 'ADD') {
      if (!out.json) throw new CniPluginError(plugin.type, command, 0, undefined, `no result on stdout: ${out.stdout}`);
      prev = out.json;
    }
  }
  return prev;
}

/** Create the pod's netns and run ADD along the chain; on failure the chain is DELeted and the netns removed. */
export async function createPodNetns(chain: CniChain, req: PodRequest): Promise<PodNetns> {
  const netnsName = req.netnsName ?? `ambt-${chain.opts.suite}-${req.name}`.slice(0, 60);
  await exec('ip', ['netns', 'del', netnsName]); // left over by a crashed run
  const add = await exec('ip', ['netns', 'add', netnsName]);
  if (add.code !== 0) throw new Error(`ip netns add ${netnsName}: ${add.stderr.trim()}`);
  const pod = {
    namespace: req.namespace, name: req.name, uid: req.uid ?? randomUUID(), netnsName,
    netnsPath: `/var/run/netns/${netnsName}`, containerId: randomBytes(32).toString('hex'), ifName: 'eth0',
  };
  await exec('ip', ['-n', netnsName, 'link', 'set', 'lo', 'up']);
  try {
    const result = (await runChain(chain, pod, 'ADD'))!;
    const ips = Array.isArray(result.ips) ? (result.ips as Array<{ address?: string }>) : [];
    const ip = ips.map((e) => (e.address ?? '').split('/')[0]!).find((a) => a.includes('.'));
    if (!ip) throw new Error(`chain result has no IPv4 address: ${JSON.stringify(result)}`);
    const ip6 = ips.map((e) => (e.address ?? '').split('/')[0]!).find((a) => a.includes(':'));
    return { ...pod, ip, ...(ip6 ? { ip6 } : {}), result };
  } catch (err) {
    await runChain(chain, pod, 'DEL').catch(() => undefined);
    await exec('ip', ['netns', 'del', netnsName]);
    throw err;
  }
}

/** CHECK along the chain (throws CniPluginError when a plugin reports a problem). */
export async function checkPodNetns(chain: CniChain, pod: PodNetns): Promise<void> {
  await runChain(chain, pod, 'CHECK', pod.result);
}

/** DEL along the chain in reverse order, then remove the netns. Safe to call twice. */
export async function deletePodNetns(chain: CniChain, pod: PodNetns): Promise<void> {
  try {
    await runChain(chain, pod, 'DEL', pod.result);
  } finally {
    await exec('ip', ['netns', 'del', pod.netnsName]);
  }
}

/** Remove the bridge and the temp dir (pods should be deleted first). */
export async function destroyCniChain(chain: CniChain): Promise<void> {
  await exec('ip', ['link', 'del', chain.opts.bridge]);
  await rm(chain.dir, { recursive: true, force: true });
}
