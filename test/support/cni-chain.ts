// CNI chains for the netns suites, on the tree's one chain runner (ctl/local/cni-chain.ts):
// a temp dir with a fresh ambit-cni (a bundle of cni/main.ts, so a suite tests the source
// without a build) and a bridge + host-local conflist; pods are netns networked by the chain
// as a kubelet would. Needs root.
//
//   const chain = await createCniChain({ suite: 'mesh', bridge: 'ambt-mesh-br0', subnet: '10.231.3.0/24', agentSocket });
//   const pod = await createPodNetns(chain, { namespace: 'shop', name: 'web-1' });   // pod.ip, pod.netnsPath
//   await deletePodNetns(chain, pod);
//   await destroyCniChain(chain);                                                     // bridge + temp dir
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  addPodNetwork,
  bridgeConflist,
  checkPodNetwork,
  deletePodNetwork,
  netnsPathOf,
  run,
  SYSTEM_CNI_DIR,
  writeCniLauncher,
  type CniNetwork,
  type CniPodRecord,
  type Conflist,
} from '../../ctl/local/cni-chain.js';
import { bundleEntry } from './bundle.js';
import { REPO_ROOT as REPO } from './repo.js';

export {
  CniPluginError,
  invokePlugin,
  pluginEnv,
  pluginStdin,
  SYSTEM_CNI_DIR,
  type Conflist,
  type InvokeResult,
  type PluginConf,
} from '../../ctl/local/cni-chain.js';

export interface CniChainOptions {
  /** Short tag used in names (netns `ambt-<suite>-<pod>`), e.g. 'mesh'. */
  suite: string;
  /** Linux bridge the `bridge` plugin creates (≤ 15 chars), e.g. 'ambt-mesh-br0'. */
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

export interface CniChain extends CniNetwork {
  readonly opts: CniChainOptions;
  /** Temp dir: bin/ (ambit-cni launcher), ipam/ (host-local data). */
  readonly dir: string;
  readonly conflist: Conflist;
}

export interface PodRequest {
  namespace: string;
  name: string;
  uid?: string;
  netnsName?: string;
}

export interface PodNetns extends CniPodRecord {
  readonly netnsPath: string;
  readonly result: Record<string, unknown>;
}

/** Write an `ambit-cni` executable into `binDir`: a fresh bundle of cni/main.ts (esbuild) or dist/cni/main.js. */
export async function writeAmbitCniExecutable(binDir: string): Promise<string> {
  try {
    const bundle = join(binDir, 'ambit-cni.mjs');
    await bundleEntry(join('cni', 'main.ts'), bundle);
    return await writeCniLauncher(binDir, bundle);
  } catch {
    const main = join(REPO, 'dist', 'cni', 'main.js');
    await stat(main).catch(() => {
      throw new Error(`${main} is missing: run \`npx tsc -p .\` first`);
    });
    return writeCniLauncher(binDir, main);
  }
}

export async function createCniChain(opts: CniChainOptions): Promise<CniChain> {
  const dir = await mkdtemp(join(tmpdir(), `ambit-cni-${opts.suite}-`));
  const binDir = join(dir, 'bin');
  await mkdir(binDir, { recursive: true });
  const withAmbit = opts.withAmbit !== false;
  if (withAmbit) {
    if (opts.plugin) await symlink(resolve(opts.plugin), join(binDir, 'ambit-cni'));
    else await writeAmbitCniExecutable(binDir);
  }
  const conflist = bridgeConflist({
    name: `ambt-${opts.suite}`,
    bridge: opts.bridge,
    subnet: opts.subnet,
    dataDir: join(dir, 'ipam'),
    ...(opts.subnet6 ? { subnet6: opts.subnet6 } : {}),
    ...(opts.cniVersion ? { cniVersion: opts.cniVersion } : {}),
    ...(withAmbit
      ? {
          ambit: {
            ...(opts.agentSocket ? { agentSocket: opts.agentSocket } : {}),
            ...(opts.addTimeoutMs ? { addTimeoutMs: opts.addTimeoutMs } : {}),
          },
        }
      : {}),
  });
  return { opts, dir, conflist, cniPath: `${binDir}:${SYSTEM_CNI_DIR}` };
}

/** Create the pod's netns and run ADD along the chain; on failure the chain is DELeted and the netns removed. */
export async function createPodNetns(chain: CniChain, req: PodRequest): Promise<PodNetns> {
  const netnsName = req.netnsName ?? `ambt-${chain.opts.suite}-${req.name}`.slice(0, 60);
  const pod = await addPodNetwork(chain, {
    namespace: req.namespace,
    name: req.name,
    uid: req.uid ?? randomUUID(),
    netnsName,
  });
  return { ...pod, netnsPath: netnsPathOf(netnsName), result: pod.result! };
}

/** CHECK along the chain (throws CniPluginError when a plugin reports a problem). */
export async function checkPodNetns(chain: CniChain, pod: PodNetns): Promise<void> {
  await checkPodNetwork(chain, pod);
}

/** DEL along the chain in reverse order, then remove the netns. Safe to call twice. */
export async function deletePodNetns(chain: CniChain, pod: PodNetns): Promise<void> {
  await deletePodNetwork(chain, pod);
}

/** Remove the bridge and the temp dir (pods should be deleted first). */
export async function destroyCniChain(chain: CniChain): Promise<void> {
  await run('ip', ['link', 'del', chain.opts.bridge]);
  await rm(chain.dir, { recursive: true, force: true });
}
