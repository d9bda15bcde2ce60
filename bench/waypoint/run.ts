// bench/waypoint: HTTP/1.1 keep-alive requests client pod → server pod directly, through the
// mesh at L4 (agent → HBONE → agent), through the namespace's waypoint (agent → HBONE →
// waypoint → HBONE → agent) and through nginx as an L7 reverse proxy, in the same run. Pods
// are netns on a Linux bridge networked by the real CNI chain (bridge + host-local +
// ambit-cni); the agent (dist/agent/main.js) and the waypoint (dist/waypoint/main.js, in its
// own netns, not captured) are the real processes in file mode, sharing one CA. Needs root.
// Usage: node dist/bench/waypoint/run.js [--duration 4] [--rate-seconds 5] [--cases a,b] [--no-write]
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import {
  HTTP_PORT,
  MESH_NS,
  meshSnapshot,
  PLAIN_NS,
  ROUTE_HEADER,
  TRUST_DOMAIN,
  VIP_L4,
  VIP_WAYPOINT,
  WAYPOINT_SA,
  waypointConfig,
} from './config.js';
import { common, fixedRate, inNetns, probe, proxyConfig, serverConfig, startNginx, wrk } from './tools.js';
import {
  makeMtlsCertificates,
  MTLS_ENTRY_PORT,
  MTLS_PORT,
  proxyMtlsConfig,
  serverTlsBlock,
  startClientTls,
} from './mtls.js';
import { adminGet, heapStats, heapStatsText, waitForVersion } from '../common/admin.js';
import { residentSplit } from '../common/smaps.js';
import { caseOption, positiveOption } from '../common/args.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';

export const CASES = ['direct', 'mesh-l4', 'waypoint', 'nginx', 'nginx-mtls'] as const;
export const METRICS = ['rps_max', 'p50_ms', 'p99_ms', 'vcpu_per_1000rps', 'rss_mb'] as const;
type CaseName = (typeof CASES)[number];

const PREFIX = 'ambt-bwp-';
const BRIDGE = 'ambt-bwp-br0';
const SUBNET = '10.231.210.0/24';
const HBONE_PORT = 15008;
/** How long after a case's last load `waypoint_rss_mb_quiet` is read (as bench/agent's rss_mb_quiet). */
const QUIET_MS = 5000;
/** The waypoint's memory columns after its quiet wait (the split of waypoint_rss_mb_quiet). */
const WAYPOINT_QUIET_METRICS = [
  'waypoint_rss_mb_quiet',
  'waypoint_brk_mb_quiet',
  'waypoint_anon_mb_quiet',
  'waypoint_file_mb_quiet',
  'waypoint_heap_used_mb_quiet',
  'waypoint_heap_total_mb_quiet',
  'waypoint_external_mb_quiet',
] as const;
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const USAGE = `usage: node dist/bench/waypoint/run.js [options]      (as root)
  --duration <s>          seconds of the wrk (maximum rate) test (default 4)
  --rate-seconds <s>      seconds measured at the fixed rate, after a 1 s warm-up (default 5)
  --rps <n>               the fixed rate (default 1000)
  --low-rps <n>           a second, lower fixed rate every path sustains (default 250; 0 = skip):
                          extra columns p50_ms_at_<n>, p99_ms_at_<n>
  --cases <a,b>           subset of ${CASES.join(', ')}
  --wrk-connections <n>   keep-alive connections of wrk (default 32)
  --rate-connections <n>  keep-alive connections of the fixed-rate client (default 16)
  --profile <dir>         run the agent and the waypoint under \`node --cpu-prof\`; the .cpuprofile
                          files land in <dir> (summarise: node dist/bench/common/cpuprofile.js <file>)
  --repeat <n>            rounds over the cases (order reversed every other round); each metric is
                          the median of the rounds, with <metric>_min and _max in the JSON (default 1)
  --node-flags "<flags>"  extra node flags for the waypoint (e.g. --node-flags="--max-semi-space-size=2")
  --out <dir>             results directory (default bench/results)
  --no-write              print only
  --help`;

interface Options {
  nodeFlags: string[];
  duration: number;
  rateSeconds: number;
  rps: number;
  lowRps: number;
  cases: CaseName[];
  wrkConnections: number;
  rateConnections: number;
  repeat: number;
  profile?: string;
  out?: string;
  write: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '4' },
      'rate-seconds': { type: 'string', default: '5' },
      rps: { type: 'string', default: '1000' },
      'low-rps': { type: 'string', default: '250' },
      cases: { type: 'string' },
      'wrk-connections': { type: 'string', default: '32' },
      'rate-connections': { type: 'string', default: '16' },
      repeat: { type: 'string', default: '1' },
      profile: { type: 'string' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      'node-flags': { type: 'string', default: '' },
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
    rateSeconds: positive('rate-seconds', values['rate-seconds']),
    rps: positive('rps', values.rps),
    lowRps: Number(values['low-rps']) >= 0 ? Number(values['low-rps']) : positive('low-rps', values['low-rps']),
    cases,
    wrkConnections: Math.round(positive('wrk-connections', values['wrk-connections'])),
    rateConnections: Math.round(positive('rate-connections', values['rate-connections'])),
    repeat: Math.round(positive('repeat', values.repeat)),
    out: values.out,
    write: !values['no-write'],
    ...(values.profile ? { profile: resolve(values.profile) } : {}),
  };
}

const log = (msg: string): void => {
  process.stderr.write(`waypoint bench: ${msg}\n`);
};

/** One case: where the client sends, and which processes are the proxy path (none for direct). */
interface Setup {
  readonly name: CaseName;
  readonly client: Pod;
  readonly url: string;
  readonly proxies: () => number[];
  readonly waypointPid?: number;
  readonly serverPids: () => number[];
  /** The waypoint's /metrics (reachable over the bridge): minor GCs during the fixed-rate run. */
  readonly waypointMetrics?: string;
}

/** GC so far, from prom-client's process metrics: minor (scavenge) count, and seconds in every kind. */
async function gcSoFar(url: string): Promise<{ minor: number; seconds: number }> {
  const text = await (await fetch(url)).text();
  let seconds = 0;
  for (const sum of text.matchAll(/^ambit_process_nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm))
    seconds += Number(sum[1]);
  const m = /^ambit_process_nodejs_gc_duration_seconds_count\{[^}]*kind="minor"[^}]*\} (\S+)$/m.exec(text);
  if (!m)
    throw new Error(
      `no minor GC count in ${url}: ${
        text
          .split('\n')
          .filter((l) => l.includes('gc_duration_seconds_count'))
          .join(' ') || text.slice(0, 200)
      }`,
    );
  return { minor: Number(m[1]), seconds };
}

/** The fixed semi-space size in MiB when both --min- and --max-semi-space-size set it, else undefined. */
function fixedSemiSpaceMb(flags: readonly string[]): number | undefined {
  const v = (name: string): number | undefined => {
    const f = flags.find((x) => x.startsWith(`--${name}=`));
    return f ? Number(f.split('=')[1]) : undefined;
  };
  const lo = v('min-semi-space-size');
  return lo !== undefined && lo === v('max-semi-space-size') ? lo : undefined;
}

async function heapText(metricsUrl: string): Promise<string> {
  return heapStatsText(await heapStats(metricsUrl).catch(() => ({ usedMb: NaN, totalMb: NaN, externalMb: NaN })));
}

/**
 * The waypoint's memory once its load is over: RSS 5 s after the case's last request (the
 * waypoint's malloc trimmer runs one quiet second after a load), split by smaps into the brk
 * heap (malloc's main arena: OpenSSL, nghttp2), other anonymous (V8's heap, thread arenas) and
 * file-backed pages (node's code), with V8's heap from its metrics.
 */
async function quietMemory(
  pid: number,
  metricsUrl: string | undefined,
  row: Record<string, number | string>,
): Promise<string> {
  await new Promise((r) => setTimeout(r, QUIET_MS));
  row.waypoint_rss_mb_quiet = round(rssMbOfPid(pid), 1);
  const split = residentSplit(pid);
  row.waypoint_brk_mb_quiet = round(split.brkMb, 1);
  row.waypoint_anon_mb_quiet = round(split.anonMb, 1);
  row.waypoint_file_mb_quiet = round(split.fileMb, 1);
  let heap = '';
  if (metricsUrl) {
    const h = await heapStats(metricsUrl).catch(() => undefined);
    if (h) {
      for (const [k, v] of [
        ['waypoint_heap_used_mb_quiet', h.usedMb],
        ['waypoint_heap_total_mb_quiet', h.totalMb],
        ['waypoint_external_mb_quiet', h.externalMb],
      ] as const)
        if (Number.isFinite(v)) row[k] = round(v, 1);
      heap = `, ${heapStatsText(h)}`;
    }
  }
  return (
    `waypoint RSS ${String(row.waypoint_rss_mb_quiet)} MiB ${QUIET_MS / 1000} s after the load (brk heap ` +
    `${split.brkMb.toFixed(1)}, other anonymous ${split.anonMb.toFixed(1)}, files ${split.fileMb.toFixed(1)}${heap})`
  );
}

async function measure(group: ChildGroup, s: Setup, o: Options): Promise<ResultRow> {
  // The response header set by the waypoint's route says which path a response took.
  const first = await probe(group, s.client, s.url);
  if (first.status !== 200)
    throw new Error(`${s.name}: GET ${s.url} answered ${first.status}: ${first.body.slice(0, 200)}`);
  const viaWaypoint = first.headers[ROUTE_HEADER] === 'waypoint';
  if (viaWaypoint !== (s.name === 'waypoint'))
    throw new Error(
      `${s.name}: the response ${viaWaypoint ? 'came' : 'did not come'} through the waypoint (header ${ROUTE_HEADER}: ${String(first.headers[ROUTE_HEADER])})`,
    );

  const max = await wrk(group, s.client, s.url, o.duration, o.wrkConnections);
  if (max.errors) log(`${s.name}: wrk: ${max.errors}`);

  const proxies = s.proxies();
  const meter = new CpuMeter([...proxies, ...s.serverPids()]).start();
  const noGc = { minor: NaN, seconds: NaN };
  const gcBefore = s.waypointMetrics
    ? await gcSoFar(s.waypointMetrics).catch((err: unknown) => {
        log(`waypoint metrics: ${String(err)}`);
        return noGc;
      })
    : noGc;
  const fixed = await fixedRate(group, s.client, s.url, {
    rps: o.rps,
    seconds: o.rateSeconds,
    connections: o.rateConnections,
    warmupSeconds: 1,
  });
  const cpu = meter.stop();
  if (fixed.errors > 0) log(`${s.name}: ${fixed.errors} failed requests at the fixed rate (${fixed.lastError})`);
  if (fixed.achieved_rps < o.rps * 0.95)
    log(`${s.name}: the fixed rate was not held: ${fixed.achieved_rps.toFixed(0)} of ${o.rps} requests/s answered`);
  // The meter ran over the warm-up and the measured seconds: CPU per answered request.
  const requests = fixed.answered;
  if (!(requests > 0)) throw new Error(`${s.name}: no request was answered at the fixed rate (${fixed.lastError})`);
  const per1000 = (pids: readonly number[]): number =>
    pids.reduce((a, p) => a + (cpu.perProcess.get(p) ?? 0), 0) / (requests / 1000);
  const serverCpu = per1000(s.serverPids());
  const row: Record<string, number | string> = {
    case: s.name,
    rps_max: round(max.rps, 0),
    p50_ms: round(fixed.p50_ms, 3),
    p99_ms: round(fixed.p99_ms, 3),
  };
  // Latency at the fixed rate is queueing time when a path cannot sustain it: the answered rate says so.
  row.answered_rps = round(fixed.achieved_rps, 0);
  let detail = `server nginx ${serverCpu.toFixed(3)} vCPU per 1000 rps`;
  if (proxies.length > 0) {
    row.vcpu_per_1000rps = round(per1000(proxies), 4);
    row.rss_mb = round(
      proxies.reduce((a, p) => a + rssMbOfPid(p), 0),
      1,
    );
    detail += `, proxy path ${String(row.vcpu_per_1000rps)} (${proxies.map((p) => `${p}: ${per1000([p]).toFixed(3)}`).join(', ')})`;
  }
  if (s.waypointMetrics) {
    // Allocation per request: each scavenge empties a full semi-space, so with the semi-space
    // fixed (--node-flags="--min-semi-space-size=1 --max-semi-space-size=1") minor GCs × its
    // size ÷ requests is the bytes allocated per request (an upper bound by the survivors).
    const gcAfter = await gcSoFar(s.waypointMetrics).catch(() => noGc);
    const gcs = gcAfter.minor - gcBefore.minor;
    // GC pauses of every kind during the fixed-rate run: what a young-generation size costs.
    const gcMs = (gcAfter.seconds - gcBefore.seconds) * 1000;
    if (Number.isFinite(gcMs)) row.waypoint_gc_ms_per_1000 = round((gcMs / requests) * 1000, 2);
    if (Number.isFinite(gcs)) {
      row.waypoint_minor_gc_per_1000 = round((gcs / requests) * 1000, 2);
      const semi = fixedSemiSpaceMb(o.nodeFlags);
      if (semi !== undefined) row.waypoint_alloc_kb_per_request = round((gcs * semi * 1024) / requests, 1);
      detail += `; waypoint ${gcs} minor GCs${semi !== undefined ? ` ≈ ${String(row.waypoint_alloc_kb_per_request)} KiB allocated per request` : ''}, GC ${gcMs.toFixed(1)} ms`;
    }
  }
  if (s.waypointPid !== undefined) {
    row.waypoint_vcpu_per_1000rps = round(per1000([s.waypointPid]), 4);
    row.waypoint_rss_mb = round(rssMbOfPid(s.waypointPid), 1);
    if (s.waypointMetrics) detail += `; waypoint after the load: ${await heapText(s.waypointMetrics)}`;
  }
  if (o.lowRps > 0) {
    const low = await fixedRate(group, s.client, s.url, {
      rps: o.lowRps,
      seconds: Math.max(2, o.rateSeconds / 2),
      connections: o.rateConnections,
      warmupSeconds: 1,
    });
    if (low.errors > 0) log(`${s.name}: ${low.errors} failed requests at ${o.lowRps} req/s (${low.lastError})`);
    row[`p50_ms_at_${o.lowRps}`] = round(low.p50_ms, 3);
    row[`p99_ms_at_${o.lowRps}`] = round(low.p99_ms, 3);
    detail += `; at ${o.lowRps} req/s: p50 ${low.p50_ms.toFixed(2)} ms, p99 ${low.p99_ms.toFixed(2)} ms`;
  }
  if (s.waypointPid !== undefined) detail += `; ${await quietMemory(s.waypointPid, s.waypointMetrics, row)}`;
  log(
    `${s.name}: ${max.rps.toFixed(0)} req/s max; at ${o.rps} req/s (${fixed.achieved_rps.toFixed(0)} answered/s): p50 ${fixed.p50_ms.toFixed(2)} ms, p99 ${fixed.p99_ms.toFixed(2)} ms, max ${fixed.max_ms.toFixed(1)} ms; ${detail}`,
  );
  return row as ResultRow;
}

async function main(): Promise<void> {
  const o = options();
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, iptables, CNI plugins)');
  sweepPodNetwork(PREFIX, BRIDGE); // a crashed earlier run
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  let net: PodNetwork | undefined;
  // The CNI network's own temp dir (host-local IPAM state, the ambit-cni shim) goes too.
  const sweep = (): void => {
    sweepPodNetwork(PREFIX, BRIDGE, dir);
    if (net) rmSync(net.dir, { recursive: true, force: true });
  };
  process.on('exit', sweep); // also after a failure or Ctrl-C (ChildGroup exits on signals)
  const group = new ChildGroup();
  const pods: Pod[] = [];
  const profiled: Child[] = [];
  const profileArgs = o.profile
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${o.profile}`,
        '--import',
        pathToFileURL(join(REPO, 'dist', 'bench', 'common', 'exit-on-sigusr2.js')).href,
      ]
    : [];
  try {
    const meshFile = join(dir, 'mesh.json');
    let version = 0;
    writeFileSync(meshFile, JSON.stringify(meshSnapshot(`bwp-${++version}`, {})));
    const adminPort = await freePort();
    const agentSocket = join(dir, 'agent.sock');
    // The agent's file mode keeps its CA in <state>/ca; the waypoint reads the same directory,
    // so both hold certificates of one root (a controller would be that CA in a cluster).
    const stateDir = join(dir, 'agent-state');
    const agent: Child = await group.start(
      process.execPath,
      [...AGENT_NODE_FLAGS, ...profileArgs, join(REPO, 'dist', 'agent', 'main.js')],
      {
        name: 'ambit-agent',
        readyLine: /^ready /,
        readyTimeoutMs: 30_000,
        env: {
          ...process.env,
          AMBIT_CONFIG_FILE: meshFile,
          AMBIT_STATE_DIR: stateDir,
          AMBIT_AGENT_SOCKET: agentSocket,
          AMBIT_TRUST_DOMAIN: TRUST_DOMAIN,
          AMBIT_NODE_NAME: 'bench-node',
          AMBIT_ADMIN_PORT: String(adminPort),
          AMBIT_METRICS_PORT: String(await freePort()),
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
    profiled.push(agent);
    net = createPodNetwork({ prefix: PREFIX, bridge: BRIDGE, subnet: SUBNET, agentSocket });
    const make = async (ns: string, name: string): Promise<Pod> => {
      const p = await createPod(net!, ns, name);
      pods.push(p);
      return p;
    };
    const plainClient = await make(PLAIN_NS, 'plain-client');
    const plainServer = await make(PLAIN_NS, 'plain-server');
    const proxyPod = await make(PLAIN_NS, 'nginx-proxy');
    const meshClient = await make(MESH_NS, 'mesh-client');
    const meshServer = await make(MESH_NS, 'mesh-server');
    const waypointPod = await make(MESH_NS, 'waypoint');
    writeFileSync(
      meshFile,
      JSON.stringify(
        meshSnapshot(`bwp-${++version}`, { client: meshClient.ip, server: meshServer.ip, waypoint: waypointPod.ip }),
      ),
    );
    await waitForVersion(adminPort, `bwp-${version}`);
    const enrolled =
      ((await adminGet(adminPort, '/config_dump')) as Partial<AgentConfigDump>).pods?.map((p) => p.name).sort() ?? [];
    if (enrolled.join(',') !== 'mesh-client,mesh-server')
      throw new Error(
        `the agent enrolled [${enrolled.join(', ')}], expected the two mesh pods only (not the waypoint)`,
      );

    const wpFile = join(dir, 'waypoint.json');
    writeFileSync(wpFile, JSON.stringify(waypointConfig('bwp-1', meshServer.ip)));
    const waypoint = await group.start(
      ...inNetns(waypointPod.netns, process.execPath, [
        ...o.nodeFlags,
        ...profileArgs,
        join(REPO, 'dist', 'waypoint', 'main.js'),
      ]),
      {
        name: 'ambit-waypoint',
        readyLine: /^ready /,
        readyTimeoutMs: 30_000,
        env: {
          ...process.env,
          POD_NAMESPACE: MESH_NS,
          SERVICE_ACCOUNT: WAYPOINT_SA,
          POD_IP: waypointPod.ip,
          AMBIT_TRUST_DOMAIN: TRUST_DOMAIN,
          AMBIT_WAYPOINT_CONFIG_FILE: wpFile,
          AMBIT_STATE_DIR: stateDir,
          AMBIT_HBONE_PORT: String(HBONE_PORT),
          AMBIT_UPSTREAM_HBONE_PORT: String(HBONE_PORT),
          AMBIT_ADMIN_PORT: '15000',
          AMBIT_METRICS_PORT: '15020',
          AMBIT_READY_PORT: '15021',
          AMBIT_ACCESS_LOG: 'false',
          AMBIT_LOG_LEVEL: process.env.AMBIT_LOG_LEVEL ?? 'warn',
        },
      },
    );
    profiled.push(waypoint);
    log(
      `pods: direct ${plainClient.ip} → ${plainServer.ip}; nginx ${plainClient.ip} → ${proxyPod.ip} → ${plainServer.ip}; ` +
        `mesh ${meshClient.ip} → VIP ${VIP_L4} (L4) / ${VIP_WAYPOINT} (waypoint ${waypointPod.ip}) → ${meshServer.ip}; agent pid ${agent.pid}, waypoint pid ${waypoint.pid}`,
    );

    const mtls = makeMtlsCertificates(join(dir, 'mtls'));
    // The plain server also answers mutual TLS on MTLS_PORT (nginx-mtls case); port 80 is unchanged.
    const plainNginx = await startNginx(
      group,
      plainServer.netns,
      join(dir, 'nginx-plain-server'),
      'nginx-plain-server',
      (d) => serverConfig(d, HTTP_PORT, serverTlsBlock(mtls)),
    );
    const meshNginx = await startNginx(
      group,
      meshServer.netns,
      join(dir, 'nginx-mesh-server'),
      'nginx-mesh-server',
      (d) => serverConfig(d, HTTP_PORT),
    );
    const proxy = await startNginx(group, proxyPod.netns, join(dir, 'nginx-proxy'), 'nginx-proxy', (d) =>
      proxyConfig(d, HTTP_PORT, `${plainServer.ip}:${HTTP_PORT}`),
    );
    const wantMtls = o.cases.includes('nginx-mtls');
    const proxyMtls = wantMtls
      ? await startNginx(group, proxyPod.netns, join(dir, 'nginx-proxy-mtls'), 'nginx-proxy-mtls', (d) =>
          proxyMtlsConfig(common(d), mtls, `${plainServer.ip}:${MTLS_PORT}`),
        )
      : undefined;
    const clientTls = wantMtls
      ? await startClientTls(group, plainClient, join(dir, 'nginx-proxy-mtls'), mtls, proxyPod.ip)
      : undefined;
    const setups: Record<CaseName, Setup> = {
      direct: {
        name: 'direct',
        client: plainClient,
        url: `http://${plainServer.ip}:${HTTP_PORT}/`,
        proxies: () => [],
        serverPids: plainNginx.pids,
      },
      'mesh-l4': {
        name: 'mesh-l4',
        client: meshClient,
        url: `http://${VIP_L4}:${HTTP_PORT}/`,
        proxies: () => [agent.pid],
        serverPids: meshNginx.pids,
      },
      waypoint: {
        name: 'waypoint',
        client: meshClient,
        url: `http://${VIP_WAYPOINT}:${HTTP_PORT}/`,
        proxies: () => [agent.pid, waypoint.pid],
        waypointPid: waypoint.pid,
        serverPids: meshNginx.pids,
        waypointMetrics: `http://${waypointPod.ip}:15020/metrics`,
      },
      nginx: {
        name: 'nginx',
        client: plainClient,
        url: `http://${proxyPod.ip}:${HTTP_PORT}/`,
        proxies: proxy.pids,
        serverPids: plainNginx.pids,
      },
      // The proxy path: the client side's TLS origination (HAProxy) and the nginx L7 proxy, as
      // the waypoint case counts the agent and the waypoint; the server's TLS is in the server nginx.
      'nginx-mtls': {
        name: 'nginx-mtls',
        client: plainClient,
        url: `http://127.0.0.1:${MTLS_ENTRY_PORT}/`,
        proxies: () => [...(clientTls ? [clientTls.pid] : []), ...(proxyMtls?.pids() ?? [])],
        serverPids: plainNginx.pids,
      },
    };
    const rounds: ResultRow[] = [];
    for (let r = 0; r < o.repeat; r++) {
      for (const name of r % 2 === 0 ? o.cases : [...o.cases].reverse()) {
        log(`round ${r + 1}/${o.repeat}: ${name}...`);
        rounds.push(await measure(group, setups[name], o));
      }
    }
    const rows = o.cases.map((name) => medianRow(rounds.filter((row) => row.case === name)));
    const conns = (await adminGet(adminPort, '/debug/connections')) as {
      counts?: Record<string, unknown>;
      refusals?: Record<string, number>;
    };
    log(`agent /debug/connections counts: ${JSON.stringify(conns.counts)} refusals: ${JSON.stringify(conns.refusals)}`);
    const results = buildResults('waypoint', rows);
    process.stdout.write(
      `waypoint bench, ${results.machine}, ${results.date}, median of ${o.repeat} round(s); server: nginx (1 worker, 3-byte body); rps_max: wrk -t1 -c${o.wrkConnections} ${o.duration} s; ` +
        `p50/p99: Node open-loop client at ${o.rps} req/s, ${o.rateConnections} keep-alive connections, ${o.rateSeconds} s after 1 s warm-up; ` +
        `vcpu_per_1000rps and rss_mb: the proxy path (agent; agent + waypoint; nginx master + worker) at that rate\n\n`,
    );
    process.stdout.write(
      formatTable(rows, {
        metrics: [
          ...METRICS,
          'answered_rps',
          ...(o.lowRps > 0 ? [`p50_ms_at_${o.lowRps}`, `p99_ms_at_${o.lowRps}`] : []),
          'waypoint_vcpu_per_1000rps',
          'waypoint_rss_mb',
          'waypoint_rss_mb_quiet',
        ],
        baseline: 'direct',
        peer: ['nginx', 'nginx-mtls'],
      }) + '\n',
    );
    if (o.repeat > 1) {
      process.stdout.write('\nmedian (min–max) of the rounds:\n');
      for (const r of rows)
        process.stdout.write(
          `${r.case}: ${[
            ...METRICS,
            'waypoint_vcpu_per_1000rps',
            'waypoint_gc_ms_per_1000',
            'waypoint_rss_mb',
            ...WAYPOINT_QUIET_METRICS,
          ]
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
    if (o.profile) {
      for (const c of profiled) c.process.kill('SIGUSR2');
      await Promise.race([Promise.all(profiled.map((c) => c.exited)), new Promise((r) => setTimeout(r, 10_000))]);
    }
    await group.close();
    sweep();
    process.off('exit', sweep);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`waypoint bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
