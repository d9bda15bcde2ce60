// The pod network of `local up`: a bridge conflist (the reference `bridge` + `host-local`
// plugins from /usr/lib/cni, then `ambit-cni`) run by the CNI chain runner (cni-chain.ts) per
// pod, and the reverse on teardown. The pod IP is requested from host-local (`CNI_ARGS` IP=)
// so the controller knows it before the ADD.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../../core/errors.js';
import {
  bridgeConflist,
  checkPodNetwork,
  CniPluginError,
  invokePlugin,
  pluginEnv,
  pluginExecutable,
  pluginStdin,
  run,
  SYSTEM_CNI_DIR,
  writeCniLauncher,
  type CniNetwork,
  type CniPodRecord,
} from './cni-chain.js';
import { builtMain } from './paths.js';

export { addPodNetwork, deletePodNetwork, run, type Conflist, type ExecResult, type PluginConf } from './cni-chain.js';

export interface LocalNetwork extends CniNetwork {
  readonly bridge: string;
  readonly subnet: string;
  /** Where ambit-cni's launcher lives (first entry of CNI_PATH). */
  readonly binDir: string;
}

export type PodNetworkRecord = CniPodRecord;

/** Writes the ambit-cni launcher (this Node, dist/cni/main.js) and the conflist for the local bridge. */
export async function prepareNetwork(opts: {
  stateDir: string;
  bridge: string;
  subnet: string;
  gateway: string;
  agentSocket: string;
}): Promise<LocalNetwork> {
  const binDir = path.join(opts.stateDir, 'cni-bin');
  await mkdir(binDir, { recursive: true });
  await writeCniLauncher(binDir, builtMain('cni'));
  const conflist = bridgeConflist({
    name: `ambit-local-${opts.bridge}`,
    bridge: opts.bridge,
    subnet: opts.subnet,
    gateway: opts.gateway,
    dataDir: path.join(opts.stateDir, 'ipam'),
    // The default route (via the bridge) carries Service VIPs, which the pod's capture rules
    // redirect to the agent before they ever leave the netns.
    defaultRoute: true,
    ambit: { agentSocket: opts.agentSocket, addTimeoutMs: 60_000 },
  });
  await writeFile(path.join(opts.stateDir, '10-ambit-local.conflist'), JSON.stringify(conflist, null, 2));
  return { bridge: opts.bridge, subnet: opts.subnet, conflist, binDir, cniPath: `${binDir}:${SYSTEM_CNI_DIR}` };
}

export async function deleteBridge(bridge: string): Promise<void> {
  await run('ip', ['link', 'del', bridge]);
}

export interface Reasserted {
  readonly pod: string;
  readonly check: string;
  readonly readded: boolean;
  readonly error?: string;
}

/**
 * What a CNI node agent does after it (or the node) restarted: CHECK every pod's chain; a pod
 * whose capture rules or enrolment are gone gets ambit-cni's ADD again (idempotent; the
 * bridge and its address stay), so every pod is redirected before traffic resumes.
 */
export async function reassertPodNetworks(net: LocalNetwork, pods: readonly PodNetworkRecord[]): Promise<Reasserted[]> {
  const ambit = net.conflist.plugins.find((p) => p.type === 'ambit-cni');
  const out: Reasserted[] = [];
  for (const pod of pods) {
    const who = `${pod.namespace}/${pod.name}`;
    try {
      await checkPodNetwork(net, pod);
      out.push({ pod: who, check: 'ok', readded: false });
      continue;
    } catch (err) {
      if (!ambit) {
        out.push({ pod: who, check: describeError(err), readded: false });
        continue;
      }
      const add = await invokePlugin(
        pluginExecutable(net, 'ambit-cni'),
        pluginEnv(net, pod, 'ADD', pod.ip),
        pluginStdin(net, ambit, pod.result),
      );
      const failed =
        add.exitCode === 0
          ? undefined
          : new CniPluginError('ambit-cni', 'ADD', add.exitCode, add.json, add.stderr, who).message;
      out.push({ pod: who, check: describeError(err), readded: !failed, ...(failed ? { error: failed } : {}) });
    }
  }
  return out;
}
