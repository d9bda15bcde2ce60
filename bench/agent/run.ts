// bench/agent: pod → pod in network namespaces, directly (no mesh) and through the mesh
// (pod → agent → HBONE → agent → pod), in the same run. Pods are netns on a Linux bridge
// networked by the real CNI chain (bridge + host-local + ambit-cni); the agent is the real
// ambit-agent process (dist/agent/main.js) in file mode. Needs root.
// Usage: node dist/bench/agent/run.js [--duration 4] [--cases direct,mesh-l4] [--no-write]
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ChildGroup, type Child } from '../common/children.js';
import {
  createPod,
  createPodNetwork,
  deletePod,
  sweepPodNetwork,
  type Pod,
  type PodNetwork,
} from '../common/cni-pods.js';
import { CpuMeter, rssMbOfPid } from '../common/cpu.js';
import { freePort } from '../common/net.js';
import { buildResults, writeResults, type ResultRow } from '../common/results.js';
import { medianRow, round, spreadText } from '../common/stats.js';
import { formatTable } from '../common/table.js';
import { connectRate, iperf, PORTS, requestResponse, startServers, wrk, type PodServers } from './tools.js';
import { adminGet, heapLine, waitForVersion } from '../common/admin.js';
import { residentSplitLine } from '../common/smaps.js';
import { caseOption, positiveOption } from '../common/args.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';

export const CASES = ['direct', 'mesh-l4'] as const;
export const METRICS = [
  'gbps_1',
  'rr_p50_us',
  'rr_p99_us',
  'conns_per_s',
  'http_rps_max',
  'vcpu_per_1000rps',
  'rss_mb',
  'rss_mb_quiet',
] as const;
type CaseName = (typeof CASES)[number];
/** The tests of a case, in the order they run; `--tests` picks some (to profile one figure alone). */
export const TESTS = ['rr', 'bulk', 'conn', 'http'] as const;
type TestName = (typeof TESTS)[number];
/** How long after the last test `rss_mb_quiet` is read. */
const QUIET_MS = 5000;

const PREFIX = 'ambt-bench-';
const BRIDGE = 'ambt-bench-br0';
const SUBNET = '10.231.200.0/24';
const VIP = '10.96.200.10';
const MESH_NS = 'bench-mesh';
const PLAIN_NS = 'bench-plain';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const USAGE = `usage: node dist/bench/agent/run.js [options]      (as root)
  --duration <s>          seconds of the bulk and HTTP tests (default 4); rr and connect take half
  --cases <a,b>           subset of ${CASES.join(', ')}
  --tests <a,b>           subset of ${TESTS.join(', ')} (rr: rr_p50/p99, bulk: gbps_1, conn: conns_per_s,
                          http: http_rps_max and vcpu_per_1000rps); default all
  --concurrency <n>       parallel connectors in the new-connection test (default 8)
  --wrk-connections <n>   keep-alive connections of wrk (default 32)
  --repeat <n>            rounds over the cases (order reversed every other round); each metric is
                          the median of the rounds, with <metric>_min and _max in the JSON (default 1)
  --node-flags "<flags>"  extra node flags for the agent (e.g. --node-flags="--max-semi-space-size=2")
  --profile <dir>         run the agent under \`node --cpu-prof\`; the .cpuprofile lands in <dir>
                          (summarise: node dist/bench/common/cpuprofile.js <file>)
  --out <dir>             results directory (default bench/results)
  --no-write              print only
  --help`;

interface Options {
  nodeFlags: string[];
  duration: number;
  cases: CaseName[];
  tests: TestName[];
  concurrency: number;
  wrkConnections: number;
  repeat: number;
  profile?: string;
  out?: string;
  write: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '4' },
      cases: { type: 'string' },
      tests: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      'wrk-connections': { type: 'string', default: '32' },
      'node-flags': { type: 'string', default: '' },
      repeat: { type: 'string', default: '1' },
      profile: { type: 'string' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const positive = positiveOption;
  const cases = caseOption(values.cases, CASES);
  return {
    nodeFlags: values['node-flags'].split(' ').filter(Boolean),
    duration: positive('duration', values.duration),
    cases,
    tests: testsOption(values.tests),
    concurrency: Math.round(positive('concurrency', values.concurrency)),
    wrkConnections: Math.round(positive('wrk-connections', values['wrk-connections'])),
    repeat: Math.round(positive('repeat', values.repeat)),
    out: values.out,
    write: !values['no-write'],
    ...(values.profile ? { profile: resolve(values.profile) } : {}),
  };
}

function testsOption(value: string | undefined): TestName[] {
  const tests = value ? value.split(',').map((t) => t.trim()) : [...TESTS];
  for (const t of tests)
    if (!(TESTS as readonly string[]).includes(t))
      throw new Error(`--tests: unknown test "${t}" (known: ${TESTS.join(', ')})`);
  return tests as TestName[];
}

const log = (msg: string): void => {
  process.stderr.write(`agent bench: ${msg}\n`);
};

/** The agent's file-mode snapshot: the mesh pods as workloads and one Service in front of the server. */
function snapshot(version: number, pods: { client?: Pod; server?: Pod }): Record<string, unknown> {
  const ips = (p: Pod | undefined): string[] => (p ? [p.ip] : []);
  return {
    version: `bench-${version}`,
    namespaces: [
      { name: MESH_NS, labels: { 'mesh-mode': 'ambient' } },
      { name: PLAIN_NS, labels: {} },
    ],
    workloads: [
      { name: 'mesh-client', namespace: MESH_NS, serviceAccount: 'client', ips: ips(pods.client), enrolled: true },
      {
        name: 'mesh-server',
        namespace: MESH_NS,
        serviceAccount: 'server',
        ips: ips(pods.server),
        enrolled: true,
        labels: { app: 'server' },
      },
    ],
    services: [
      {
        name: 'server',
        namespace: MESH_NS,
        vips: [VIP],
        ports: Object.values(PORTS).map((port) => ({ port, targetPort: port, protocol: 'tcp' })),
        endpoints: pods.server ? [{ address: pods.server.ip, workloadUid: `Pod/${MESH_NS}/mesh-server` }] : [],
      },
    ],
  };
}

interface Setup {
  name: CaseName;
  client: Pod;
  target: string;
  servers: PodServers;
  agent?: Child;
  adminPort?: number;
  metricsPort?: number;
}

/** User and system clock ticks of a process so far (/proc/<pid>/stat fields 14 and 15). */
function userSystemTicks(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]), system: Number(rest[12]) };
}

/** The agent's count of open connections after a test (all of the test's have ended by then). */
async function openAfter(s: Setup, test: string): Promise<void> {
  if (!s.adminPort) return;
  await new Promise((r) => setTimeout(r, 300));
  const c = (await adminGet(s.adminPort, '/debug/connections')) as { counts?: { active?: number } };
  const active = c.counts?.active ?? 0;
  if (active > 0)
    log(`${s.name}: the agent still counts ${active} open connection(s) 300 ms after the ${test} test ended`);
}

async function measure(group: ChildGroup, s: Setup, o: Options): Promise<ResultRow> {
  const half = Math.max(1, o.duration / 2);
  const runs = (t: TestName): boolean => o.tests.includes(t);
  const row: Record<string, number | string> = { case: s.name };
  const said: string[] = [];
  const meshPids = s.agent ? [s.agent.pid] : [];
  if (runs('rr')) {
    const rr = await requestResponse(group, s.client, s.target, half);
    await openAfter(s, 'request/response');
    row.rr_p50_us = round(rr.p50, 1);
    row.rr_p99_us = round(rr.p99, 1);
    said.push(`rr p50 ${rr.p50.toFixed(0)} µs p99 ${rr.p99.toFixed(0)} µs`);
  }
  if (runs('bulk')) {
    const meter = new CpuMeter(meshPids).start();
    const bulk = await iperf(group, s.client, s.target, o.duration);
    const bulkCpu = meter.stop().total;
    await openAfter(s, 'iperf3');
    row.gbps_1 = round(bulk.gbps, 3);
    if (s.agent) row.cpu_s_per_gb = round(bulkCpu / (bulk.bytes / 1e9), 3);
    said.push(
      `${bulk.gbps.toFixed(2)} Gbit/s${s.agent ? ` (agent ${(bulkCpu / (bulk.bytes / 1e9)).toFixed(2)} CPU s/GB)` : ''}`,
    );
  }
  if (runs('conn')) {
    const meter = new CpuMeter(meshPids).start();
    const conn = await connectRate(group, s.client, s.target, half, o.concurrency);
    const connCpu = meter.stop().total;
    if (conn.errors > 0) log(`${s.name}: ${conn.errors} failed connections (${conn.lastError})`);
    await openAfter(s, 'new-connection');
    row.conns_per_s = round(conn.perSecond, 0);
    const connections = conn.perSecond * half;
    said.push(
      `${conn.perSecond.toFixed(0)} conn/s${s.agent && connections > 0 ? ` (agent ${((1000 * connCpu) / connections).toFixed(2)} ms CPU per connection)` : ''}`,
    );
  }
  if (runs('http')) {
    const servingPids = [...s.servers.pids(), ...meshPids];
    const split = s.agent ? userSystemTicks(s.agent.pid) : undefined;
    const meter = new CpuMeter(servingPids).start();
    const started = process.hrtime.bigint();
    const http = await wrk(group, s.client, s.target, o.duration, o.wrkConnections);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = meter.stop();
    await openAfter(s, 'wrk');
    const agentCpu = s.agent ? (cpu.perProcess.get(s.agent.pid) ?? 0) : 0;
    row.http_rps_max = round(http.rps, 0);
    if (s.agent && split) {
      const after = userSystemTicks(s.agent.pid);
      const user = after.user - split.user;
      const system = after.system - split.system;
      log(`${s.name}: agent CPU during wrk: ${Math.round((100 * system) / Math.max(1, user + system))}% in the kernel`);
    }
    row.vcpu_per_1000rps = round(cpu.total / seconds / (http.rps / 1000), 4);
    said.push(
      `${http.rps.toFixed(0)} HTTP req/s; serving CPU ${(cpu.total / seconds).toFixed(2)} vCPU` +
        (s.agent
          ? ` (agent ${(agentCpu / seconds).toFixed(2)} vCPU = ${(agentCpu / seconds / (http.rps / 1000)).toFixed(3)} per 1000 rps)`
          : ''),
    );
  }
  log(`${s.name}: ${said.join(', ')}`);
  if (s.agent) {
    row.rss_mb = round(rssMbOfPid(s.agent.pid), 1);
    if (s.metricsPort) log(`${s.name}: agent RSS ${row.rss_mb} MiB; ${await heapLine(s.metricsPort)}`);
    // The agent gives freed native buffers back once connections stop opening and closing
    // (core/runtime/malloc-trim.ts: one quiet second, at least 5 s after its last trim): what it
    // holds when the load is over.
    await new Promise((r) => setTimeout(r, QUIET_MS));
    row.rss_mb_quiet = round(rssMbOfPid(s.agent.pid), 1);
    log(
      `${s.name}: agent RSS ${row.rss_mb_quiet} MiB ${QUIET_MS / 1000} s after the load (${residentSplitLine(s.agent.pid)})`,
    );
  }
  return row as ResultRow;
}

async function main(): Promise<void> {
  const o = options();
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, iptables, CNI plugins)');
  sweepPodNetwork(PREFIX, BRIDGE); // a crashed earlier run
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}`));
  let net: PodNetwork | undefined;
  const sweep = (): void => sweepPodNetwork(PREFIX, BRIDGE, dir);
  process.on('exit', sweep); // also after a failure or Ctrl-C (ChildGroup exits on signals)
  const group = new ChildGroup();
  const pods: Pod[] = [];
  let agent: Child | undefined;
  try {
    const configFile = join(dir, 'mesh.json');
    let version = 0;
    writeFileSync(configFile, JSON.stringify(snapshot(++version, {})));
    const adminPort = await freePort();
    const agentSocket = join(dir, 'agent.sock');
    const metricsPort = await freePort();
    const profileArgs = o.profile
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${o.profile}`,
          '--import',
          pathToFileURL(join(REPO, 'dist', 'bench', 'common', 'exit-on-sigusr2.js')).href,
        ]
      : [];
    agent = await group.start(
      process.execPath,
      [...AGENT_NODE_FLAGS, ...o.nodeFlags, ...profileArgs, join(REPO, 'dist', 'agent', 'main.js')],
      {
        name: 'ambit-agent',
        readyLine: /^ready /,
        readyTimeoutMs: 30_000,
        env: {
          ...process.env,
          AMBIT_CONFIG_FILE: configFile,
          AMBIT_STATE_DIR: join(dir, 'agent-state'),
          AMBIT_AGENT_SOCKET: agentSocket,
          AMBIT_NODE_NAME: 'bench-node',
          AMBIT_ADMIN_PORT: String(adminPort),
          AMBIT_METRICS_PORT: String(metricsPort),
          AMBIT_READY_PORT: String(await freePort()),
          AMBIT_SOCKS5_PORT: '0',
          AMBIT_PUBLIC_HOST: '127.0.0.1',
          AMBIT_DRAIN_MS: '1000',
          AMBIT_NATIVE_ADDON:
            process.env.AMBIT_NATIVE_ADDON ?? join(REPO, 'agent', 'native', 'build', 'Release', 'ambit_netns.node'),
        },
      },
    );
    net = createPodNetwork({ prefix: PREFIX, bridge: BRIDGE, subnet: SUBNET, agentSocket });
    const make = async (ns: string, name: string): Promise<Pod> => {
      const p = await createPod(net!, ns, name);
      pods.push(p);
      return p;
    };
    const plainClient = await make(PLAIN_NS, 'plain-client');
    const plainServer = await make(PLAIN_NS, 'plain-server');
    const meshClient = await make(MESH_NS, 'mesh-client');
    const meshServer = await make(MESH_NS, 'mesh-server');
    writeFileSync(configFile, JSON.stringify(snapshot(++version, { client: meshClient, server: meshServer })));
    await waitForVersion(adminPort, `bench-${version}`);
    const enrolled =
      ((await adminGet(adminPort, '/config_dump')) as Partial<AgentConfigDump>).pods?.map((p) => p.name).sort() ?? [];
    if (enrolled.join(',') !== 'mesh-client,mesh-server')
      throw new Error(`the agent enrolled [${enrolled.join(', ')}], expected the two mesh pods only`);
    log(
      `pods: direct ${plainClient.ip} → ${plainServer.ip}; mesh ${meshClient.ip} → VIP ${VIP} → ${meshServer.ip}; agent pid ${agent.pid}`,
    );

    const setups: Record<CaseName, () => Promise<Setup>> = {
      direct: async () => ({
        name: 'direct',
        client: plainClient,
        target: plainServer.ip,
        servers: await startServers(group, plainServer, dir),
      }),
      'mesh-l4': async () => ({
        name: 'mesh-l4',
        client: meshClient,
        target: VIP,
        servers: await startServers(group, meshServer, dir),
        agent,
        adminPort,
        metricsPort,
      }),
    };
    const rounds: ResultRow[] = [];
    for (let round = 0; round < o.repeat; round++) {
      const order = round % 2 === 0 ? o.cases : [...o.cases].reverse();
      for (const name of order) {
        log(`round ${round + 1}/${o.repeat}: ${name}...`);
        const setup = await setups[name]();
        try {
          rounds.push(await measure(group, setup, o));
        } finally {
          for (const c of setup.servers.children) await group.stop(c);
        }
      }
    }
    const rows = o.cases.map((name) => medianRow(rounds.filter((r) => r.case === name)));
    if (o.cases.includes('mesh-l4')) {
      // The mesh figures must have gone through the agent: its counters say so.
      const conns = (await adminGet(adminPort, '/debug/connections')) as {
        counts?: Record<string, unknown>;
        refusals?: Record<string, number>;
      };
      log(
        `agent /debug/connections counts: ${JSON.stringify(conns.counts)} refusals: ${JSON.stringify(conns.refusals)}`,
      );
      if (!JSON.stringify(conns.counts ?? {}).match(/[1-9]/))
        throw new Error('the agent counted no connection: the mesh-l4 traffic did not go through it');
    }
    const results = buildResults('agent', rows);
    process.stdout.write(
      `agent bench, ${results.machine}, ${results.date}, ${o.duration} s per bulk/HTTP test, median of ${o.repeat} round(s); HTTP server: nginx (1 worker), load: wrk -t1 -c${o.wrkConnections}\n\n`,
    );
    process.stdout.write(formatTable(rows, { metrics: [...METRICS, 'cpu_s_per_gb'], baseline: 'direct' }) + '\n');
    if (o.repeat > 1) {
      process.stdout.write('\nmedian (min–max) of the rounds:\n');
      for (const r of rows)
        process.stdout.write(
          `${r.case}: ${[...METRICS, 'cpu_s_per_gb']
            .filter((m) => typeof r[m] === 'number')
            .map((m) => `${m} ${spreadText(r, m)}`)
            .join(', ')}\n`,
        );
    }
    if (o.write) process.stdout.write(`\nwrote ${writeResults(results, o.out)}\n`);
  } finally {
    // CNI DEL while the agent still runs (ambit-cni tells it the pod is gone), then the rest.
    if (net)
      for (const p of pods) await deletePod(net, p).catch((err: unknown) => log(`CNI DEL ${p.name}: ${String(err)}`));
    // Profiling: SIGUSR2 → process.exit() in the preload, so the profile is written.
    if (agent && o.profile) {
      agent.process.kill('SIGUSR2');
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    await group.close();
    sweep();
    process.off('exit', sweep);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`agent bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
