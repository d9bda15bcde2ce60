// Undo a local mesh from its record, in the reverse order of `local up`: the pods' commands,
// each pod's CNI DEL (while the agent still runs, so it forgets the pod) and netns, the
// /etc/netns files, the agent, the controller, the bridge, and finally the state dir's own
// files. Every step runs even when an earlier one failed; problems are returned.
import { readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../core/log.js';
import { deleteBridge, deletePodNetwork, run } from './cni.js';
import { stopProcess } from './processes.js';
import { RECORD_FILE, writeRecord, type LocalRecord } from './state.js';

/** What `local up` writes into its state dir; only these are removed (the dir may be the user's). */
export const STATE_ENTRIES = [
  RECORD_FILE,
  `${RECORD_FILE}.tmp`,
  'config',
  'controller',
  'agent',
  'cni-bin',
  'ipam',
  'logs',
  '10-ambit-local.conflist',
  'agent.sock',
  'agent-token',
  'node-tokens',
  'relay',
  'waypoints',
  'control.sock',
  // credentialName folders (gateway server certificates, outside hosts' CAs) and the outside hosts' own PKI
  'credentials',
  'outside',
];

/**
 * `networkGone`: the mesh ran in user namespaces that are no longer reachable (rootless, the
 * inner `local up` crashed): its netns, bridge and mounts vanish with its last process, so
 * only processes and state are cleaned.
 */
export async function tearDown(
  record: LocalRecord,
  log: Logger,
  opts: { networkGone?: boolean } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
      log.warn('teardown step failed', { step: what, err: (err as Error).message });
    }
  };
  // Pods' commands, waypoints and gateways: all run inside pod netns.
  const inPods = (p: { role: string }) => p.role === 'pod' || p.role === 'waypoint' || p.role === 'gateway';
  const apps = record.processes.filter(inPods);
  await step('stop pods', () => Promise.all(apps.map((p) => stopProcess(p, 3000))));
  record.processes = record.processes.filter((p) => !inPods(p));
  if (opts.networkGone) {
    record.pods = [];
    record.planned = [];
    record.etcNetns = [];
  }
  for (const pod of [...record.pods].reverse()) {
    await step(`CNI DEL ${pod.namespace}/${pod.name}`, async () => {
      if (record.network) await deletePodNetwork(record.network, pod);
      else await run('ip', ['netns', 'del', pod.netnsName]);
    });
    record.pods = record.pods.filter((p) => p !== pod);
    await writeRecord(record).catch(() => undefined);
  }
  // Namespaces planned but never recorded (a crash between `ip netns add` and the record).
  for (const p of record.planned) await run('ip', ['netns', 'del', p.netnsName]).catch(() => undefined);
  for (const dir of record.etcNetns) await step(`rm ${dir}`, () => rm(dir, { recursive: true, force: true }));
  record.etcNetns = [];
  for (const role of ['agent', 'controller']) {
    for (const p of record.processes.filter((x) => x.role === role))
      await step(`stop ${role}`, () => stopProcess(p, role === 'agent' ? 8000 : 5000));
  }
  record.processes = [];
  if (!opts.networkGone) await step(`ip link del ${record.bridge}`, () => deleteBridge(record.bridge));
  await step('remove state', async () => {
    for (const entry of STATE_ENTRIES) await rm(path.join(record.stateDir, entry), { recursive: true, force: true });
    if ((await readdir(record.stateDir)).length === 0) await rmdir(record.stateDir);
  });
  return problems;
}
