// Pods of a netns suite on one CNI chain: each pod netns gets its default route(s) to the
// bridge, and one teardown releases the test process's sockets in every pod, runs DEL for
// each and removes the bridge. Needs root.
import { releaseNetns } from '../../agent/inpod/sockets.js';
import {
  createCniChain,
  createPodNetns,
  deletePodNetns,
  destroyCniChain,
  type CniChain,
  type CniChainOptions,
  type PodNetns,
  type PodRequest,
} from './cni-chain.js';
import { sh } from './agent-netns.js';

export interface PodNetwork {
  readonly chain: CniChain;
  /** Every pod added and not removed, in order. */
  readonly pods: PodNetns[];
  /** Create a pod netns along the chain, with default routes via the bridge (both families on a dual-stack chain). */
  addPod(req: PodRequest): Promise<PodNetns>;
  /** DEL one pod (its netns goes too). */
  removePod(pod: PodNetns): Promise<void>;
  /** Release, DEL every pod and remove the bridge; safe after a failed setup. */
  destroy(): Promise<void>;
}

/** The bridge's address in a host-local subnet: `.1` (IPv4 /24) or `::1` (IPv6 /64). */
export function bridgeAddress(subnet: string): string {
  return subnet.includes(':') ? subnet.replace(/::\/\d+$/, '::1') : subnet.replace(/\.0\/\d+$/, '.1');
}

export async function createPodNetwork(opts: CniChainOptions): Promise<PodNetwork> {
  const chain = await createCniChain(opts);
  const pods: PodNetns[] = [];
  return {
    chain,
    pods,
    async addPod(req) {
      const pod = await createPodNetns(chain, req);
      pods.push(pod);
      sh('ip', ['-n', pod.netnsName, 'route', 'replace', 'default', 'via', bridgeAddress(opts.subnet)]);
      if (opts.subnet6)
        sh('ip', ['-n', pod.netnsName, '-6', 'route', 'replace', 'default', 'via', bridgeAddress(opts.subnet6)]);
      return pod;
    },
    async removePod(pod) {
      const i = pods.indexOf(pod);
      if (i >= 0) pods.splice(i, 1);
      releaseNetns(pod.netnsPath);
      await deletePodNetns(chain, pod);
    },
    async destroy() {
      for (const p of pods.splice(0)) {
        releaseNetns(p.netnsPath);
        await deletePodNetns(chain, p).catch(() => undefined);
      }
      await destroyCniChain(chain);
    },
  };
}
