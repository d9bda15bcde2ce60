// bench/controller: translate time, push time to 100 connected discovery clients and the
// controller's RSS for 1k, 10k and 50k services (5 endpoint pods each), and certificates
// signed per second through the CA's gRPC service (`ca`; ca-bench.ts runs it for several
// rounds on its own). Prints a table and writes bench/results/controller.json.
// Usage: node dist/bench/controller/run.js [--cases services-1000,ca] [--clients 100] ...
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChildGroup, type Child } from '../common/children.js';
import { rssMbOfPid } from '../common/cpu.js';
import { buildResults, writeResults, type ResultRow } from '../common/results.js';
import { round } from '../common/stats.js';
import { formatTable } from '../common/table.js';
import { grpcRound as caGrpcRound } from './ca-bench.js';
import { nodeName } from './objects.js';

export const CASES = ['services-1000', 'services-10000', 'services-50000', 'ca'] as const;
export const METRICS = [
  'translate_ms',
  'push_ms',
  'push_p99_ms',
  'sync_s',
  'rss_mb',
  'agent_rss_mb',
  'certs_per_s',
] as const;
/** Extra rows (not in CONTRACT.md's case list): the CA over its gRPC service. */
const EXTRA_CASES = ['ca-grpc'] as const;

const USAGE = `usage: node dist/bench/controller/run.js [options]
  --cases <a,b,...>      subset of ${[...CASES, ...EXTRA_CASES].join(', ')} (default: all);
                         services-<N> for any N
  --clients <n>          discovery clients connected during the push test (default 100)
  --client-procs <n>     processes the clients are spread over (default 4)
  --changes <n>          timed pushes per services case; push_ms is their median, push_p99_ms their
                         99th percentile (default 20)
  --rounds <n>           services cases run n times: each metric is the median, with _min and _max (default 1)
  --lookups <n>          destinations each agent looks up on demand after its first sync (default 20)
  --full-mesh            clients subscribe like agents that are not on demand (every workload and service)
  --sync-timeout <s>     how long the clients may take to get the full configuration (default 600)
  --ca-seconds <s>       duration of each CA test (default 3)
  --ca-concurrency <n>   parallel requests in the gRPC CA test (default 16)
  --debounce <ms>        translate and push debounce of the controller (default: its own, 100 + 100)
  --profile <dir>        run the controller under \`node --cpu-prof\` (a .cpuprofile per case in <dir>;
                         summarise: node dist/bench/common/cpuprofile.js <file>)
  --out <dir>            results directory (default bench/results)
  --no-write             print only
  --help`;

interface Options {
  rounds: number;
  lookups: number;
  fullMesh: boolean;
  cases: string[];
  clients: number;
  clientProcs: number;
  changes: number;
  syncTimeoutS: number;
  caSeconds: number;
  caConcurrency: number;
  debounce?: number;
  profile?: string;
  out?: string;
  write: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string' },
      clients: { type: 'string', default: '100' },
      'client-procs': { type: 'string', default: '4' },
      changes: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '1' },
      lookups: { type: 'string', default: '20' },
      'full-mesh': { type: 'boolean', default: false },
      'sync-timeout': { type: 'string', default: '600' },
      'ca-seconds': { type: 'string', default: '3' },
      'ca-concurrency': { type: 'string', default: '16' },
      debounce: { type: 'string' },
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
  const num = (name: string, v: string, min = 1): number => {
    const n = Number(v);
    if (!(n >= min)) throw new Error(`--${name}: expected a number >= ${min}, got "${v}"`);
    return n;
  };
  const known: readonly string[] = [...CASES, ...EXTRA_CASES];
  const cases = values.cases ? values.cases.split(',').map((s) => s.trim()) : [...known];
  for (const c of cases)
    if (!known.includes(c) && !/^services-\d+$/.test(c))
      throw new Error(`--cases: unknown case "${c}" (known: ${known.join(', ')})`);
  return {
    rounds: Math.round(num('rounds', values.rounds)),
    lookups: Math.round(num('lookups', values.lookups, 0)),
    fullMesh: values['full-mesh'],
    cases,
    clients: Math.round(num('clients', values.clients)),
    clientProcs: Math.round(num('client-procs', values['client-procs'])),
    changes: Math.round(num('changes', values.changes)),
    syncTimeoutS: num('sync-timeout', values['sync-timeout']),
    caSeconds: num('ca-seconds', values['ca-seconds'], 0.1),
    caConcurrency: Math.round(num('ca-concurrency', values['ca-concurrency'])),
    ...(values.debounce !== undefined ? { debounce: num('debounce', values.debounce, 0) } : {}),
    ...(values.profile ? { profile: resolve(values.profile) } : {}),
    out: values.out,
    write: !values['no-write'],
  };
}

const here = dirname(fileURLToPath(import.meta.url));
const script = (name: string): string => join(here, `${name}.js`);
const parseTagged = <T>(line: string): T => JSON.parse(line.slice(line.indexOf(' ') + 1)) as T;
/** Caveats printed under the table. */
const notes: string[] = [];
const log = (msg: string): void => {
  process.stderr.write(`controller bench: ${msg}\n`);
};
const quietEnv = { ...process.env, AMBIT_LOG_LEVEL: process.env.AMBIT_LOG_LEVEL ?? 'error' };

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
}

interface Env {
  group: ChildGroup;
  dir: string;
  tokenFile: string;
  rootsFile: string;
  tokens: string[];
  o: Options;
}

interface Controller {
  child: Child;
  grpc: number;
  identity: string;
}

async function startController(env: Env, services: number): Promise<{ ctl: Controller; translateMs: number }> {
  const spec = {
    services,
    nodes: env.o.clients,
    tokenFile: env.tokenFile,
    rootsFile: env.rootsFile,
    translateRuns: services <= 1000 ? 5 : services <= 10_000 ? 3 : 1,
    ...(env.o.debounce !== undefined ? { translateDebounceMs: env.o.debounce, pushDebounceMs: env.o.debounce } : {}),
  };
  const profile = env.o.profile ? ['--cpu-prof', `--cpu-prof-dir=${env.o.profile}`] : [];
  const child = await env.group.start(
    process.execPath,
    ['--max-old-space-size=16384', ...profile, script('controller-proc'), JSON.stringify(spec)],
    {
      name: `controller-${services}`,
      stdin: 'pipe',
      env: quietEnv,
    },
  );
  const t = parseTagged<{
    ms: number;
    runs: number[];
    objects: number;
    services: number;
    workloads: number;
    rejected: number;
  }>(await child.nextLine(/^TRANSLATE /, 1_200_000));
  log(
    `${services} services: ${t.objects} objects → ${t.services} services, ${t.workloads} workloads, ${t.rejected} rejected; translate ${t.runs.map((r) => r.toFixed(0)).join(', ')} ms`,
  );
  if (t.services !== services || t.rejected !== 0)
    throw new Error(`translate gave ${t.services} services and ${t.rejected} rejections for ${services} services`);
  const ready = parseTagged<{ grpc: number; identity: string }>(await child.nextLine(/^READY /, 1_200_000));
  return { ctl: { child, grpc: ready.grpc, identity: ready.identity }, translateMs: t.ms };
}

async function command(
  ctl: Controller,
  cmd: string,
  answer: RegExp,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  ctl.child.process.stdin!.write(`${cmd}\n`);
  const r = parseTagged<Record<string, unknown>>(await ctl.child.nextLine(answer, timeoutMs));
  if (typeof r.error === 'string') throw new Error(`controller: ${cmd}: ${r.error}`);
  return r;
}

/**
 * Every client holds the whole mesh (agents get every workload and service), decoded: about
 * 12 KB per service (5 workloads + the service; measured ~8-10 KB at 1k). The clients share
 * this machine with the controller, so their number is capped to half the available memory
 * rather than letting the machine swap or the OOM killer pick a victim; a capped run says so.
 */
function clientsThatFit(wanted: number, services: number, fullMesh: boolean): number {
  const available = Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
  // On demand, a client holds its node's workloads and the destinations it looked up.
  const perClient = fullMesh ? services * 12_000 : 30_000_000;
  return Math.max(1, Math.min(wanted, Math.floor((available * 0.5) / perClient)));
}

/**
 * Starts `count` discovery clients: first one alone (a probe: if a single client cannot get
 * the configuration, the run says why at once instead of drowning the controller in 100
 * failing resyncs), then the others spread over the client processes.
 */
/**
 * The hostnames agent `i` looks up on demand: 5 of the services the push test changes (so
 * each change reaches about a quarter of the agents besides the new pod's node) and others.
 */
function lookupsFor(i: number, services: number, changes: number, count: number): string[] {
  const out = new Set<string>();
  const host = (svc: number): string => `svc${svc}.bench${svc % 10}.svc.cluster.local`;
  for (let k = i % 4; k < changes && out.size < Math.min(5, count); k += 4) out.add(host((k * 7919) % services));
  for (let m = 0; out.size < count && m < count * 2; m++) out.add(host((i * 131 + m * 977) % services));
  return [...out];
}

interface Connected {
  procs: Child[];
  syncS: number;
  agentRssMb: number;
}

async function connectClients(env: Env, ctl: Controller, count: number, services: number): Promise<Connected> {
  const procs: Child[] = [];
  const t0 = Date.now();
  const onDemand = !env.o.fullMesh;
  const startProc = async (from: number, to: number): Promise<Child> => {
    const nodes = [];
    for (let i = from; i < to; i++) {
      nodes.push({
        name: nodeName(i),
        token: env.tokens[i]!,
        ...(onDemand ? { lookups: lookupsFor(i, services, env.o.changes, env.o.lookups) } : {}),
      });
    }
    const spec = {
      mode: 'xds',
      address: `127.0.0.1:${ctl.grpc}`,
      rootsFile: env.rootsFile,
      controllerIdentity: ctl.identity,
      nodes,
      onDemand,
    };
    const child = await env.group.start(
      process.execPath,
      ['--max-old-space-size=16384', script('clients-proc'), JSON.stringify(spec)],
      { name: `clients-${from}-${to - 1}`, env: quietEnv },
    );
    procs.push(child);
    return child;
  };
  /** The slowest client's time from its start to holding its configuration, in ms. */
  const synced = async (children: Child[]): Promise<number> => {
    const lines = await Promise.all(children.map((c) => c.nextLine(/^(SYNCED|FAILED) /, env.o.syncTimeoutS * 1000)));
    const failure = lines.find((l) => l.startsWith('FAILED '));
    if (failure) throw new Error(`discovery clients: ${String(parseTagged<{ error: string }>(failure).error)}`);
    return Math.max(...lines.map((l) => parseTagged<{ ms: number }>(l).ms));
  };
  let syncMs: number;
  try {
    const probeMs = await synced([await startProc(0, 1)]);
    const perProc = Math.ceil((count - 1) / env.o.clientProcs);
    // The other clients start together: what an initial sync of the whole fleet costs.
    const rest: Array<Promise<Child>> = [];
    for (let from = 1; from < count; from += perProc) rest.push(startProc(from, Math.min(count, from + perProc)));
    syncMs = count > 1 ? Math.max(probeMs, await synced(await Promise.all(rest))) : probeMs;
  } catch (err) {
    for (const c of procs) await env.group.stop(c);
    throw err;
  }
  const r = await command(ctl, `clients ${count}`, /^CLIENTS /, 600_000);
  const clientRss = procs.reduce((a, c) => a + rssMbOfPid(c.pid), 0);
  // The probe is one agent's discovery client alone in a Node process: what an agent holds.
  const agentRssMb = rssMbOfPid(procs[0]!.pid);
  log(
    `${String(r.n)} clients connected and holding their configuration after ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s ` +
      `(slowest client ${(syncMs / 1000).toFixed(1)} s from its start, ${String(r.nacks)} NACKs); ` +
      `client processes: ${clientRss.toFixed(0)} MiB RSS, ${(clientRss / count).toFixed(1)} MiB per client; ` +
      `one client alone: ${agentRssMb.toFixed(0)} MiB`,
  );
  return { procs, syncS: syncMs / 1000, agentRssMb };
}

/** Rounds of one case: each metric's median, with `<metric>_min` and `<metric>_max`. */
function aggregate(rounds: readonly ResultRow[]): ResultRow {
  const out: ResultRow = { case: rounds[0]!.case };
  const keys = new Set(rounds.flatMap((r) => Object.keys(r).filter((k) => k !== 'case')));
  for (const k of keys) {
    const xs = rounds.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
    if (xs.length === 0) continue;
    Object.assign(out, { [k]: median(xs), [`${k}_min`]: Math.min(...xs), [`${k}_max`]: Math.max(...xs) });
  }
  return out;
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

async function servicesCase(env: Env, services: number, withCa: boolean, rows: ResultRow[]): Promise<void> {
  const { ctl, translateMs } = await startController(env, services);
  let clients: Child[] = [];
  let connected: Connected | undefined;
  try {
    try {
      const count = clientsThatFit(env.o.clients, services, env.o.fullMesh);
      if (count < env.o.clients)
        log(
          `${services} services: only ${count} of ${env.o.clients} clients fit in half the available memory; push_ms will be measured with ${count}`,
        );
      connected = await connectClients(env, ctl, count, services);
      clients = connected.procs;
      if (count < env.o.clients)
        notes.push(
          `services-${services}: push_ms and rss_mb measured with ${count} discovery clients (memory), not ${env.o.clients}`,
        );
    } catch (err) {
      // translate_ms stands on its own; push_ms and rss_mb need the clients.
      rows.push({ case: `services-${services}`, translate_ms: round(translateMs, 1) });
      const rss = rssMbOfPid(ctl.child.pid);
      throw new Error(
        `${err instanceof Error ? err.message : String(err)} (controller RSS with the configuration loaded, no client: ${rss.toFixed(0)} MiB)`,
        { cause: err },
      );
    }
    const pushes: number[] = [];
    for (let k = 0; k < env.o.changes; k++) {
      const r = await command(ctl, `change ${(k * 7919) % services}`, /^PUSHED /, 600_000);
      pushes.push(r.ms as number);
      log(
        `${services} services: push ${k + 1}: ${(r.ms as number).toFixed(1)} ms, ${String(r.responses)} responses ` +
          `to ${String(r.agents)} of ${String(r.clients)} clients, all ACKed`,
      );
    }
    const rss = rssMbOfPid(ctl.child.pid);
    const hwm = await command(ctl, 'rss', /^RSS /, 10_000);
    log(`${services} services: controller RSS ${rss.toFixed(0)} MiB (peak ${(hwm.hwm_mb as number).toFixed(0)} MiB)`);
    rows.push({
      case: `services-${services}`,
      translate_ms: round(translateMs, 1),
      push_ms: round(median(pushes), 1),
      push_p99_ms: round(percentile(pushes, 99), 1),
      sync_s: round(connected!.syncS, 2),
      rss_mb: round(rss, 1),
      agent_rss_mb: round(connected!.agentRssMb, 1),
    });
    if (withCa) rows.push(await caGrpc(env, ctl));
  } finally {
    for (const c of clients) await env.group.stop(c);
    await env.group.stop(ctl.child);
  }
}

async function runCaChild(
  env: Env,
  spec: Record<string, unknown>,
): Promise<{ per_s: number; certs: number; errors: number; lastError: string }> {
  const child = await env.group.start(process.execPath, [script('clients-proc'), JSON.stringify(spec)], {
    name: `ca-${String(spec.mode)}`,
    env: quietEnv,
  });
  const r = parseTagged<{ per_s: number; certs: number; errors: number; lastError: string }>(
    await child.nextLine(/^RESULT /, (env.o.caSeconds + 60) * 1000),
  );
  if (r.errors > 0) log(`${String(spec.mode)}: ${r.errors} failed requests (${r.lastError})`);
  if (r.certs === 0) throw new Error(`${String(spec.mode)}: no certificate signed: ${r.lastError}`);
  return r;
}

/** certs/s through the controller's CertificateService, as node 0's agent (pod svc0-0 runs there). */
async function caGrpc(env: Env, ctl: Controller): Promise<ResultRow> {
  const r = await runCaChild(env, {
    mode: 'ca-grpc',
    address: `127.0.0.1:${ctl.grpc}`,
    rootsFile: env.rootsFile,
    controllerIdentity: ctl.identity,
    node: nodeName(0),
    token: env.tokens[0],
    identity: 'spiffe://cluster.local/ns/bench0/sa/sa0',
    durationMs: env.o.caSeconds * 1000,
    concurrency: env.o.caConcurrency,
  });
  log(`ca-grpc: ${r.certs} certificates, ${r.per_s.toFixed(0)}/s`);
  return { case: 'ca-grpc', certs_per_s: round(r.per_s, 0) };
}

async function main(): Promise<void> {
  const o = options();
  const group = new ChildGroup();
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-controller-'));
  const tokens = Array.from({ length: o.clients }, () => randomBytes(24).toString('hex'));
  const tokenFile = join(dir, 'node-tokens');
  writeFileSync(tokenFile, tokens.map((t, i) => `${t} ${nodeName(i)}`).join('\n') + '\n', { mode: 0o600 });
  const env: Env = { group, dir, tokenFile, rootsFile: join(dir, 'roots.pem'), tokens, o };
  const rows: ResultRow[] = [];
  const failed: string[] = [];
  try {
    for (const c of o.cases) {
      const m = /^services-(\d+)$/.exec(c);
      if (!m) continue;
      const services = Number(m[1]);
      // The gRPC CA test runs against the first (smallest) controller started.
      const withCa = o.cases.includes('ca-grpc') && !rows.some((r) => r.case === 'ca-grpc');
      try {
        const perRound: ResultRow[] = [];
        for (let r = 1; r <= o.rounds; r++) {
          if (o.rounds > 1) log(`services-${services}: round ${r} of ${o.rounds}`);
          const got: ResultRow[] = [];
          await servicesCase(env, services, withCa && r === 1, got);
          perRound.push(...got.filter((r) => r.case === `services-${services}`));
          rows.push(...got.filter((r) => r.case !== `services-${services}`));
        }
        rows.push(o.rounds > 1 ? aggregate(perRound) : perRound[0]!);
      } catch (err) {
        // Reported, not fatal: the cases that fit are still measured and written.
        failed.push(`services-${services}: ${err instanceof Error ? err.message : String(err)}`);
        log(`FAILED: ${failed[failed.length - 1]}`);
      }
    }
    if (o.cases.includes('ca')) {
      // Through the CertificateService over gRPC/TLS, as agents obtain certificates (ca-bench.ts).
      const caOptions = { seconds: o.caSeconds, clients: 1, concurrency: o.caConcurrency, services: 1000 };
      const r = await caGrpcRound(caOptions, dir, 1);
      log(`ca (gRPC, ${o.caConcurrency} in flight): ${r.perS.toFixed(0)}/s, p99 ${r.p99.toFixed(1)} ms`);
      rows.push({ case: 'ca', certs_per_s: round(r.perS, 0) });
    }
    // services-<N> by N, then ca, ca-grpc.
    const rank = (c: string): number => Number(/^services-(\d+)$/.exec(c)?.[1] ?? 1e12 + (c === 'ca' ? 0 : 1));
    rows.sort((a, b) => rank(a.case) - rank(b.case));
    const results = buildResults('controller', rows);
    process.stdout.write(
      `controller bench, ${results.machine}, ${results.date}, ${o.clients} discovery clients` +
        `${o.fullMesh ? '' : ` on demand (${o.lookups} lookups each)`}, ` +
        `push_ms = median of ${o.changes}, push_p99_ms = p99` +
        `${o.rounds > 1 ? `, median of ${o.rounds} rounds (min/max in the JSON)` : ''}\n\n`,
    );
    process.stdout.write(formatTable(rows, { metrics: METRICS }) + '\n');
    for (const n of notes) process.stdout.write(`\nnote: ${n}\n`);
    for (const f of failed) process.stdout.write(`\nnot measured: ${f}\n`);
    if (o.write) process.stdout.write(`\nwrote ${writeResults(results, o.out)}\n`);
  } finally {
    await group.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`controller bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
