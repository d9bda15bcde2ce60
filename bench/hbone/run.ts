// bench/hbone: HBONE against direct TCP, Node TLS, a Node relay and the HAProxy mTLS chain,
// all in one run on loopback. Prints a table with ratios and writes bench/results/hbone.json.
// Usage: node dist/bench/hbone/run.js [--duration 4] [--cases a,b] [--no-write] [--out dir]
import { parseArgs } from 'node:util';
import { ChildGroup } from '../common/children.js';
import { buildResults, writeResults, type ResultRow } from '../common/results.js';
import { medianRow, round, spreadText } from '../common/stats.js';
import { formatTable } from '../common/table.js';
import { CASES, helperScript, isCaseName, setupCase, type CaseContext, type CaseName, type Targets } from './cases.js';
import { startIperfServer } from './iperf.js';
import { measureBulk, measureConnectRate, measureRequestResponse } from './measure.js';
import { createBenchPki } from './pki.js';
import { positiveOption } from '../common/args.js';

export const METRICS = ['gbps_1', 'gbps_8', 'rr_p50_us', 'rr_p99_us', 'tunnels_per_s', 'cpu_s_per_gb'] as const;

const USAGE = `usage: node dist/bench/hbone/run.js [options]
  --duration <s>        seconds per bulk test (default 4); rr and connect tests take half
  --cases <a,b,...>     subset of ${CASES.join(', ')}
  --repeat <n>          rounds over all cases (order reversed every other round); each
                        metric is the median of the rounds, _min/_max in the JSON (default 1)
  --concurrency <n>     parallel connectors in the new-tunnel test (default 8)
  --haproxy-threads <n> nbthread of each HAProxy process (default 1)
  --out <dir>           results directory (default bench/results)
  --no-write            print only
  --help`;

function options(): {
  duration: number;
  cases: CaseName[];
  repeat: number;
  concurrency: number;
  haproxyThreads: number;
  out?: string;
  write: boolean;
} {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '4' },
      cases: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '8' },
      'haproxy-threads': { type: 'string', default: '1' },
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
  const cases = values.cases ? values.cases.split(',').map((s) => s.trim()) : [...CASES];
  for (const c of cases)
    if (!isCaseName(c)) throw new Error(`--cases: unknown case "${c}" (known: ${CASES.join(', ')})`);
  return {
    duration: positive('duration', values.duration),
    cases: cases as CaseName[],
    repeat: Math.round(positive('repeat', values.repeat)),
    concurrency: Math.round(positive('concurrency', values.concurrency)),
    haproxyThreads: Math.round(positive('haproxy-threads', values['haproxy-threads'])),
    out: values.out,
    write: !values['no-write'],
  };
}

async function measureCase(name: CaseName, ctx: CaseContext, o: ReturnType<typeof options>): Promise<ResultRow> {
  const setup = await setupCase(name, ctx);
  try {
    const half = Math.max(1, o.duration / 2);
    // Request/response first: it warms the chain (JIT, HBONE pool) before the bulk tests.
    const rr = await measureRequestResponse(ctx.group, setup, half);
    const b1 = await measureBulk(ctx.group, setup, 1, o.duration);
    const b8 = await measureBulk(ctx.group, setup, 8, o.duration);
    const conn = await measureConnectRate(ctx.group, setup, half, o.concurrency);
    if (conn.errors > 0) process.stderr.write(`${name}: ${conn.errors} failed connections in the new-tunnel test\n`);
    const gb = (b1.bytes + b8.bytes) / 1e9;
    return {
      case: name,
      gbps_1: round(b1.gbps, 3),
      gbps_8: round(b8.gbps, 3),
      rr_p50_us: round(rr.p50, 1),
      rr_p99_us: round(rr.p99, 1),
      tunnels_per_s: round(conn.perSecond, 0),
      cpu_s_per_gb: round((b1.cpuSeconds + b8.cpuSeconds) / gb, 3),
    };
  } finally {
    await setup.stop();
  }
}

async function main(): Promise<void> {
  const o = options();
  const group = new ChildGroup();
  const pki = await createBenchPki();
  try {
    const iperf = await startIperfServer(group);
    const target = await group.start(process.execPath, [helperScript('target'), pki.credentialsFile], {
      name: 'target',
      readyLine: /^READY /,
    });
    const ports = JSON.parse(target.readyMessage.slice('READY '.length)) as {
      echo: number;
      tlsEcho: number;
      tlsSink: number;
    };
    const targets: Targets = { iperf: iperf.port, ...ports, targetPid: target.pid };
    const ctx: CaseContext = { group, pki, targets, haproxyThreads: o.haproxyThreads };
    const rounds: ResultRow[][] = [];
    for (let round = 0; round < o.repeat; round++) {
      const order = round % 2 === 0 ? o.cases : [...o.cases].reverse();
      const rows: ResultRow[] = [];
      for (const name of order) {
        process.stderr.write(`hbone bench: round ${round + 1}/${o.repeat}: ${name}...\n`);
        rows.push(await measureCase(name, ctx, o));
      }
      rounds.push(rows);
    }
    const rows = o.cases.map((name) => medianRow(rounds.map((r) => r.find((row) => row.case === name) as ResultRow)));
    const results = buildResults('hbone', rows);
    process.stdout.write(
      `hbone bench, ${results.machine}, ${results.date}, ${o.duration} s per bulk test, median of ${o.repeat} round(s)\n\n`,
    );
    process.stdout.write(formatTable(rows, { metrics: METRICS, baseline: 'direct-tcp', peer: 'haproxy-chain' }) + '\n');
    if (o.repeat > 1) {
      process.stdout.write('\nmedian (min–max) of the rounds:\n');
      for (const r of rows)
        process.stdout.write(
          `${r.case}: ${METRICS.filter((m) => typeof r[m] === 'number')
            .map((m) => `${m} ${spreadText(r, m)}`)
            .join(', ')}\n`,
        );
    }
    if (o.write) process.stdout.write(`\nwrote ${writeResults(results, o.out)}\n`);
  } finally {
    await group.close();
    pki.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`hbone bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
