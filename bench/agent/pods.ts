// bench/agent pods: the agent's memory with 1, 100 and 1000 pods enrolled. Each pod is a
// real network namespace (`ip netns add`, no interfaces: the agent's listeners bind 0.0.0.0 in
// it) enrolled through the agent's enrolment socket exactly as ambit-cni does it (op `add`),
// each with its own service account by default, so each pod also holds its own certificate
// (--pods-per-account n: n pods share one; a list, e.g. 1,10, gives a row each). The real
// ambit-agent (dist/agent/main.js) runs in file mode; every round starts a fresh agent.
// Needs root. Usage: node dist/bench/agent/pods.js [--pods 1,100,1000] [--rounds 3] [--node-flags "..."]
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { enrolmentRequest } from '../../core/enrolment/client.js';
import type { PodInfo } from '../../core/enrolment/protocol.js';
import { adminGet, heapLine } from '../common/admin.js';
import { positiveOption } from '../common/args.js';
import { ChildGroup } from '../common/children.js';
import { rssMbOfPid } from '../common/cpu.js';
import { residentSplitLine } from '../common/smaps.js';
import { freePort } from '../common/net.js';
import { buildResults, writeResults, type ResultRow } from '../common/results.js';
import { round } from '../common/stats.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';

const PREFIX = 'ambt-bpods-';
const NS = 'bench-pods';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const log = (msg: string): void => {
  process.stderr.write(`agent pods bench: ${msg}\n`);
};

interface Options {
  pods: number[];
  rounds: number;
  podsPerAccount: number[];
  nodeFlags: string[];
  out?: string;
  write: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      pods: { type: 'string', default: '1,100,1000' },
      rounds: { type: 'string', default: '3' },
      'node-flags': { type: 'string', default: '' },
      'pods-per-account': { type: 'string', default: '1' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const pods = values.pods
    .split(',')
    .map((p) => Math.round(positiveOption('pods', p)))
    .sort((a, b) => a - b);
  return {
    pods,
    rounds: Math.round(positiveOption('rounds', values.rounds)),
    podsPerAccount: values['pods-per-account'].split(',').map((n) => Math.round(positiveOption('pods-per-account', n))),
    nodeFlags: values['node-flags'].split(' ').filter(Boolean),
    out: values.out,
    write: !values['no-write'],
  };
}

const podName = (i: number): string => `pod-${i}`;
const podIp = (i: number): string => `10.233.${(i >> 8) & 255}.${i & 255}`;

function snapshot(n: number, perAccount: number): Record<string, unknown> {
  return {
    version: 'pods-1',
    namespaces: [{ name: NS, labels: { 'mesh-mode': 'ambient' } }],
    workloads: Array.from({ length: n }, (_, i) => ({
      name: podName(i),
      namespace: NS,
      serviceAccount: `sa-${Math.floor(i / perAccount)}`,
      ips: [podIp(i)],
      enrolled: true,
    })),
    services: [],
  };
}

function sweep(): void {
  let names: string[] = [];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(PREFIX));
  } catch {
    /* no ip */
  }
  if (names.length)
    execFileSync('ip', ['-force', '-batch', '-'], {
      input: names.map((n) => `netns del ${n}`).join('\n') + '\n',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
}

/** Median, min, max of a list. */
function spread(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/** RSS after the agent has been quiet for a while (the last of a few samples 500 ms apart). */
async function settledRss(pid: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 500));
    last = rssMbOfPid(pid);
  }
  return last;
}

async function oneRound(o: Options, perAccount: number, dir: string, maxPods: number): Promise<Map<number, number>> {
  const group = new ChildGroup();
  const state = mkdtempSync(join(dir, 'round-'));
  const configFile = join(state, 'mesh.json');
  writeFileSync(configFile, JSON.stringify(snapshot(maxPods, perAccount)));
  const socket = join(state, 'agent.sock');
  const adminPort = await freePort();
  const metricsPort = await freePort();
  const rss = new Map<number, number>();
  try {
    const agent = await group.start(
      process.execPath,
      [...AGENT_NODE_FLAGS, ...o.nodeFlags, join(REPO, 'dist', 'agent', 'main.js')],
      {
        name: 'ambit-agent',
        readyLine: /^ready /,
        readyTimeoutMs: 30_000,
        env: {
          ...process.env,
          AMBIT_CONFIG_FILE: configFile,
          AMBIT_STATE_DIR: join(state, 'agent-state'),
          AMBIT_AGENT_SOCKET: socket,
          AMBIT_NODE_NAME: 'bench-node',
          AMBIT_ADMIN_PORT: String(adminPort),
          AMBIT_METRICS_PORT: String(metricsPort),
          AMBIT_READY_PORT: String(await freePort()),
          AMBIT_SOCKS5_PORT: '0',
          AMBIT_PUBLIC_HOST: '127.0.0.1',
          AMBIT_DRAIN_MS: '1000',
          AMBIT_LOG_LEVEL: process.env.AMBIT_LOG_LEVEL ?? 'warn',
          AMBIT_NATIVE_ADDON:
            process.env.AMBIT_NATIVE_ADDON ?? join(REPO, 'agent', 'native', 'build', 'Release', 'ambit_netns.node'),
        },
      },
    );
    rss.set(0, await settledRss(agent.pid));
    let enrolled = 0;
    for (const target of o.pods) {
      const started = Date.now();
      const next = (): number => enrolled++;
      const worker = async (): Promise<void> => {
        for (let i = next(); i < target; i = next()) {
          const pod: PodInfo = {
            uid: `uid-${i}`,
            name: podName(i),
            namespace: NS,
            netnsPath: `/var/run/netns/${PREFIX}${i}`,
            ips: [podIp(i)],
            serviceAccount: `sa-${Math.floor(i / perAccount)}`,
          };
          const res = await enrolmentRequest(socket, { op: 'add', pod }, 60_000);
          if (!res.ok) throw new Error(`enrol ${pod.name}: ${res.error}`);
          if ((i + 1) % 100 === 0 && i + 1 < target)
            log(`  ${i + 1}/${target} pods enrolled (${Date.now() - started} ms)`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      enrolled = target;
      // RSS first: the dump asked for below is a large response that the agent builds (garbage).
      rss.set(target, await settledRss(agent.pid));
      const split = residentSplitLine(agent.pid);
      if (process.env.BENCH_HEAP_SNAPSHOT && target === o.pods[o.pods.length - 1]) {
        // Needs --node-flags --heapsnapshot-signal=SIGUSR2; V8 writes Heap.*.heapsnapshot in the cwd.
        agent.process.kill('SIGUSR2');
        await new Promise((r) => setTimeout(r, 15_000));
      }
      log(
        `${target} pods enrolled in ${Date.now() - started} ms: RSS ${rss.get(target)!.toFixed(1)} MiB (${split}), ${await heapLine(metricsPort)}`,
      );
      const dump = (await adminGet(adminPort, '/config_dump')) as Partial<AgentConfigDump>;
      if (dump.pods?.length !== target)
        throw new Error(`the agent lists ${dump.pods?.length} pods, expected ${target}`);
    }
  } finally {
    await group.close();
    rmSync(state, { recursive: true, force: true });
  }
  return rss;
}

/** One row: RSS per level (median of the rounds, min, max) and the growth per pod, first → last level. */
function summarise(name: string, rounds: Array<Map<number, number>>, pods: number[], lines: string[]): ResultRow {
  const row: Record<string, number | string> = { case: name };
  for (const n of [0, ...pods]) {
    const s = spread(rounds.map((m) => m.get(n)!));
    row[`rss_mb_${n}`] = round(s.median, 1);
    row[`rss_mb_${n}_min`] = round(s.min, 1);
    row[`rss_mb_${n}_max`] = round(s.max, 1);
    lines.push(
      `${String(n).padStart(5)} pods: RSS ${s.median.toFixed(1)} MiB (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`,
    );
  }
  const first = pods[0]!;
  const last = pods[pods.length - 1]!;
  if (last > first) {
    const s = spread(rounds.map((m) => ((m.get(last)! - m.get(first)!) * 1024) / (last - first)));
    row.kb_per_pod = round(s.median, 1);
    row.kb_per_pod_min = round(s.min, 1);
    row.kb_per_pod_max = round(s.max, 1);
    lines.push(
      `growth ${first} → ${last} pods: ${s.median.toFixed(1)} KiB per pod (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`,
    );
  }
  return row as ResultRow;
}

async function main(): Promise<void> {
  const o = options();
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  sweep();
  process.on('exit', sweep);
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  const maxPods = o.pods[o.pods.length - 1]!;
  try {
    const made = Date.now();
    log(`creating ${maxPods} network namespaces`);
    execFileSync('ip', ['-batch', '-'], {
      input: Array.from({ length: maxPods }, (_, i) => `netns add ${PREFIX}${i}`).join('\n') + '\n',
    });
    log(`${maxPods} network namespaces made in ${Date.now() - made} ms`);
    // rounds[case][round]; the cases' order is reversed every other round.
    const rounds = o.podsPerAccount.map(() => [] as Array<Map<number, number>>);
    for (let r = 0; r < o.rounds; r++) {
      const order = o.podsPerAccount.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const c of order) {
        const perAccount = o.podsPerAccount[c]!;
        const flags = o.nodeFlags.length ? `, node ${o.nodeFlags.join(' ')}` : '';
        log(`round ${r + 1}/${o.rounds} (${perAccount} pod(s) per service account${flags})`);
        rounds[c]!.push(await oneRound(o, perAccount, dir, maxPods));
      }
    }
    const rows: ResultRow[] = [];
    const lines: string[] = [];
    o.podsPerAccount.forEach((perAccount, c) => {
      const name = ['agent', ...(perAccount > 1 ? [`${perAccount}-pods-per-account`] : []), ...o.nodeFlags].join(' ');
      lines.push(`${name}:`);
      rows.push(summarise(name, rounds[c]!, o.pods, lines));
    });
    const results = buildResults('agent-pods', rows);
    process.stdout.write(
      `agent pods bench, ${results.machine}, ${results.date}, median of ${o.rounds} round(s)\n${lines.join('\n')}\n`,
    );
    if (o.write) process.stdout.write(`wrote ${writeResults(results, o.out)}\n`);
  } finally {
    sweep();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`agent pods bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
