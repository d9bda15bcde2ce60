// "Pods" for benchmarks on one Linux host, networked the way a kubelet does it, by the tree's
// CNI chain runner (ctl/local/cni-chain.ts): a network namespace per pod and the conflist's
// chain — the reference `bridge` + `host-local` plugins (/usr/lib/cni) followed by `ambit-cni`
// (dist/cni/main.js), which enrols the pod with the agent when its namespace is ambient, with
// a default route via the bridge (Service VIPs use it). Needs root. Every name starts with the
// caller's prefix (e.g. `ambt-bench-`) so leftovers can be swept.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addPodNetwork,
  bridgeConflist,
  cniLauncherScript,
  deletePodNetwork,
  netnsPathOf,
  SYSTEM_CNI_DIR,
  type CniNetwork,
  type CniPodRecord,
} from '../../ctl/local/cni-chain.js';
import { builtMain } from '../../ctl/local/paths.js';

export interface PodNetwork extends CniNetwork {
  /** Prefix of every netns name, e.g. 'ambt-bench-'. */
  readonly prefix: string;
  /** Bridge name (≤ 15 characters). */
  readonly bridge: string;
  /** host-local subnet, e.g. '10.231.200.0/24'; the bridge (pods' default gateway) is .1. */
  readonly subnet: string;
  readonly agentSocket: string;
  readonly dir: string;
}

export interface Pod extends CniPodRecord {
  /** The netns name. */
  readonly netns: string;
  readonly netnsPath: string;
  readonly result: Record<string, unknown>;
}

export function createPodNetwork(opts: {
  prefix: string;
  bridge: string;
  subnet: string;
  agentSocket: string;
}): PodNetwork {
  const dir = mkdtempSync(join(tmpdir(), `${opts.prefix}cni-`));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ambit-cni'), cniLauncherScript(builtMain('cni')), { mode: 0o755 });
  const conflist = bridgeConflist({
    name: `${opts.prefix}net`,
    bridge: opts.bridge,
    subnet: opts.subnet,
    dataDir: join(dir, 'ipam'),
    defaultRoute: true,
    ambit: { agentSocket: opts.agentSocket },
  });
  return { ...opts, dir, conflist, cniPath: `${bin}:${SYSTEM_CNI_DIR}` };
}

/** A netns `<prefix><name>` with the CNI chain's ADD run for it. */
export async function createPod(net: PodNetwork, namespace: string, name: string): Promise<Pod> {
  const netns = `${net.prefix}${name}`;
  const pod = await addPodNetwork(net, { namespace, name, uid: randomUUID(), netnsName: netns });
  return { ...pod, netns, netnsPath: netnsPathOf(netns), result: pod.result! };
}

export async function deletePod(net: PodNetwork, pod: Pod): Promise<void> {
  await deletePodNetwork(net, pod);
}

/**
 * Synchronous sweep of everything with the prefix: netns, the bridge, the temp dir. Safe at
 * any time (start of a run, exit hook after a failure); errors are ignored.
 */
export function sweepPodNetwork(prefix: string, bridge: string, dir?: string): void {
  const quiet = { stdio: 'ignore' as const };
  let names: string[] = [];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix));
  } catch {
    /* no ip */
  }
  for (const n of names) {
    try {
      execFileSync('ip', ['netns', 'del', n], quiet);
    } catch {
      /* gone */
    }
  }
  try {
    execFileSync('ip', ['link', 'del', bridge], quiet);
  } catch {
    /* gone */
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}
