// The record of a running local mesh, kept in the state dir and rewritten after every step,
// so `ambitctl local down` can undo whatever a crashed `local up` left behind.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalNetwork, PodNetworkRecord } from './cni.js';
import type { WaypointRecord } from './waypoints.js';

export const DEFAULT_STATE_DIR = path.join(tmpdir(), 'ambit-local');
export const RECORD_FILE = 'local.json';

export interface ProcessRecord {
  readonly role: string;
  readonly pid: number;
  /** argv joined by spaces: checked against /proc before a signal, so a reused pid is left alone. */
  readonly cmdline: string;
  readonly pod?: string;
}

export interface LocalPorts {
  readonly agentAdmin: number;
  readonly agentMetrics: number;
  readonly agentReady: number;
  readonly agentSocks5: number;
  readonly controllerGrpc: number;
  readonly controllerMetrics: number;
  readonly controllerReady: number;
}

export interface LocalRecord {
  readonly version: 1;
  /** The `local up` process. */
  pid: number;
  readonly startedAt: string;
  readonly dir: string;
  readonly stateDir: string;
  readonly configDir: string;
  readonly bridge: string;
  readonly podCidr: string;
  readonly nodeName: string;
  readonly ports: LocalPorts;
  network?: LocalNetwork;
  pods: PodNetworkRecord[];
  /** Every pod of the plan: name → netns, IP (for `local exec` and the live view). */
  planned: Array<{
    namespace: string;
    name: string;
    netnsName: string;
    ip: string;
    enrolled: boolean;
    labels: Record<string, string>;
  }>;
  /** Service VIPs pinned for this run (`local apply` keeps them). */
  serviceVips: Array<{ namespace: string; name: string; vips: readonly string[] }>;
  processes: ProcessRecord[];
  /** /etc/netns/<name> folders written (hosts files). */
  etcNetns: string[];
  /** Waypoints (one per Gateway of class ambit-waypoint) and their host port (admin + /metrics). */
  waypoints?: WaypointRecord[];
  /** Rootless mode: the inner `local up` whose user + mount + network namespaces hold the mesh. */
  userns?: { pid: number };
}

export function portsFor(offset: number): LocalPorts {
  return {
    agentAdmin: 15000 + offset,
    agentMetrics: 15020 + offset,
    agentReady: 15021 + offset,
    agentSocks5: 15080 + offset,
    // 15021 is the agent's on 127.0.0.1, so the controller's readiness moves to 15022 in local mode.
    controllerGrpc: 15012 + offset,
    controllerMetrics: 15014 + offset,
    controllerReady: 15022 + offset,
  };
}

export async function readRecord(stateDir: string): Promise<LocalRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(stateDir, RECORD_FILE), 'utf8')) as LocalRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// Writes of one record run one after the other (the supervisor writes on every restart,
// `local up` after every step): two at once would race on the temporary file.
let writes: Promise<void> = Promise.resolve();

export function writeRecord(record: LocalRecord): Promise<void> {
  const write = async () => {
    await mkdir(record.stateDir, { recursive: true });
    const file = path.join(record.stateDir, RECORD_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2));
    await rename(`${file}.tmp`, file);
  };
  const next = writes.then(write, write);
  writes = next.catch(() => undefined);
  return next;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
