// `npm run soak`: the coffee-shop on `ambitctl local up` (the chaos suite's mesh: two waypoint
// replicas, a client pod) under constant open-loop load through the waypoint and at L4 for
// --minutes (default 10) at --rate req/s (default 500). Every --sample-seconds it samples the
// agent's and the waypoints' RSS and open fds (/proc), and afterwards reports their slope
// (least squares over the samples after the first tenth: the warm-up), whether and when
// /debug/connections returns to no open connection once the load stopped (within
// --settle-seconds, default 90: past the pooled connections' 60 s idle timeout), and how long each
// takes to exit on SIGTERM against its drain deadline. Writes bench/results/soak.json.
// Needs root and a build; run it alone: flock /tmp/ambit-netns.lock npm run soak -- --minutes 1
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../../ctl/local/paths.js';
import type { UnitStatus } from '../../ctl/local/supervisor.js';
import { ChaosMesh } from '../../test/support/chaos-mesh.js';
import type { LoadSummary } from '../../test/support/chaos-load.js';

/** The agent's drain deadline in local up (AMBIT_DRAIN_MS) plus its shutdown grace; the waypoint drains for 5 s. */
const DRAIN_DEADLINE_MS: Record<string, number> = { agent: 2000 + 3000, waypoint: 5000 + 1000 };

interface Sample {
  atS: number;
  unit: string;
  rssMiB: number;
  fds: number;
}

async function sampleOf(pid: number): Promise<{ rssMiB: number; fds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    return { rssMiB: kb / 1024, fds: (await readdir(`/proc/${pid}/fd`)).length };
  } catch {
    return undefined;
  }
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<{ x: number; y: number }>): number | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return sxx === 0 ? null : points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Open connections a component reports on /debug/connections. */
function openConnections(body: unknown): number {
  const b = body as { counts?: { active?: number }; active?: unknown; sessions?: number; activeStreams?: number };
  if (typeof b.counts?.active === 'number') return b.counts.active;
  if (Array.isArray(b.active)) return b.active.length;
  return (b.sessions ?? 0) + (b.activeStreams ?? 0);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string', default: '500' },
      'sample-seconds': { type: 'string', default: '10' },
      // Longer than the 60 s idle timeouts of the pooled connections (see below).
      'settle-seconds': { type: 'string', default: '90' },
      out: { type: 'string', default: path.join(PACKAGE_ROOT, 'bench', 'results', 'soak.json') },
    },
  });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const every = Number(values['sample-seconds']);
  const settleS = Number(values['settle-seconds']);
  if (!(minutes > 0 && rate > 0 && every > 0 && settleS >= 10))
    throw new Error('--minutes, --rate and --sample-seconds must be positive numbers, --settle-seconds at least 10');
  const mesh = new ChaosMesh({
    mode: 'full',
    bridge: 'ambt-soak0',
    cidr: '10.239.59.0/24',
    prefix: 'ambt-sk-',
    portOffset: 1350,
    log: (l) => console.error(l),
    certTtlSeconds: 86_400,
  });
  process.once('SIGINT', () => {
    void mesh.stop().finally(() => process.exit(130));
  });
  try {
    console.error(`soak: ${minutes} min at ${rate} req/s; starting the mesh …`);
    await mesh.start();
    const units = async () =>
      (await mesh.control<UnitStatus[]>('GET', '/units')).filter((u) => u.role === 'agent' || u.role === 'waypoint');
    const watched = await units();
    const samples: Sample[] = [];
    const started = Date.now();
    const load = mesh.load(minutes * 60, rate);
    let loading = true;
    load.then(
      () => {
        loading = false;
      },
      () => {
        loading = false;
      }, // the rejection is seen by the await below
    );
    while (loading) {
      for (const u of await units()) {
        const s = await sampleOf(u.pid);
        if (s) samples.push({ atS: (Date.now() - started) / 1000, unit: u.name, ...s });
      }
      const wait = Date.now() + every * 1000;
      while (loading && Date.now() < wait) await sleep(250);
    }
    const summary: LoadSummary = await load;
    console.error('soak: load finished; waiting for connections to close …');

    // After the load: every open connection closes (a leak shows as a count that stays). The load
    // ran in its own process, which closed its keep-alive sockets and exited before `load`
    // resolved, so no client holds a connection now. What stays open a while is pooled and idle:
    // the waypoints' keep-alive HTTP/1.1 connections to the apps (one HBONE stream each, counted
    // by the agent as inbound) and the agent's HBONE sessions to the waypoints; both close after
    // their 60 s idle timeout. So the count is read at once, 10 s later (with what is still open:
    // direction, peers, age, bytes), then every second until every component reports 0 or
    // --settle-seconds pass.
    const connections: Record<string, { afterLoad: number; after10s: number; zeroAfterS: number | null }> = {};
    const admin: Record<string, number> = { agent: mesh.record.ports.agentAdmin };
    for (const w of mesh.record.waypoints ?? []) admin[`waypoint/${w.namespace}/${w.pod}`] = w.port;
    const body = async (port: number): Promise<unknown> =>
      (await fetch(`http://127.0.0.1:${port}/debug/connections`, { signal: AbortSignal.timeout(3000) })).json();
    const read = async (port: number) => openConnections(await body(port));
    const loadEnded = Date.now();
    for (const [name, port] of Object.entries(admin)) {
      const n = await read(port).catch(() => -1);
      connections[name] = { afterLoad: n, after10s: -1, zeroAfterS: n === 0 ? 0 : null };
    }
    const stuck: Record<string, unknown> = {};
    let tenSecondsRead = false;
    while (Date.now() - loadEnded < settleS * 1000) {
      await sleep(1000);
      const atS = Math.round((Date.now() - loadEnded) / 100) / 10;
      const first = !tenSecondsRead && atS >= 10;
      for (const [name, port] of Object.entries(admin)) {
        const c = connections[name]!;
        if (!first && c.zeroAfterS !== null) continue;
        const n = await read(port).catch(() => -1);
        if (n === 0 && c.zeroAfterS === null) c.zeroAfterS = atS;
        if (first) {
          c.after10s = n;
          if (n > 0) stuck[name] = await body(port).catch((err: unknown) => String(err));
        }
      }
      if (first) tenSecondsRead = true;
      if (tenSecondsRead && Object.values(connections).every((c) => c.zeroAfterS !== null)) break;
    }

    // SIGTERM: how long each takes to exit (the supervisor stops it and holds it down).
    const sigterm: Record<string, { ms: number; deadlineMs: number; within: boolean }> = {};
    for (const u of watched) {
      const t0 = Date.now();
      await mesh.control('POST', `/pause?unit=${encodeURIComponent(u.name)}`, 60_000);
      const ms = Date.now() - t0;
      const deadlineMs = DRAIN_DEADLINE_MS[u.role] ?? 5000;
      sigterm[u.name] = { ms, deadlineMs, within: ms <= deadlineMs };
    }

    const warm = minutes * 60 * 0.1;
    const trends: Record<
      string,
      { rssMiBPerMin: number | null; fdsPerMin: number | null; rssMiB: [number, number]; fds: [number, number] }
    > = {};
    for (const name of new Set(samples.map((s) => s.unit))) {
      const mine = samples.filter((s) => s.unit === name);
      const steady = mine.filter((s) => s.atS >= warm);
      const perMin = (v: number | null) => (v === null ? null : Math.round(v * 60 * 1000) / 1000);
      trends[name] = {
        rssMiBPerMin: perMin(slope(steady.map((s) => ({ x: s.atS, y: s.rssMiB })))),
        fdsPerMin: perMin(slope(steady.map((s) => ({ x: s.atS, y: s.fds })))),
        rssMiB: [Math.round(mine[0]!.rssMiB), Math.round(mine.at(-1)!.rssMiB)],
        fds: [mine[0]!.fds, mine.at(-1)!.fds],
      };
    }
    let sent = 0;
    let failed = 0;
    const reasons: Record<string, number> = {};
    for (const [t, s] of Object.entries(summary.targets)) {
      sent += s.sent;
      failed += s.failed + s.misrouted;
      for (const [r, n] of Object.entries(s.reasons)) reasons[`${t}: ${r}`] = n;
    }
    const result = {
      time: new Date().toISOString(),
      minutes,
      rate,
      sampleSeconds: every,
      settleSeconds: settleS,
      load: { sent, failed, reasons, targets: summary.targets },
      trends,
      connections,
      stuck,
      sigterm,
      samples,
    };
    await mkdir(path.dirname(values.out), { recursive: true });
    await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      `soak: ${sent} requests, ${failed} failed${
        failed > 0
          ? ` (${Object.entries(reasons)
              .map(([r, n]) => `${r} ×${n}`)
              .join(', ')})`
          : ''
      }`,
    );
    for (const [name, t] of Object.entries(trends)) {
      console.log(
        `${name.padEnd(36)} RSS ${t.rssMiB[0]}→${t.rssMiB[1]} MiB (${t.rssMiBPerMin ?? '?'} MiB/min)  fds ${t.fds[0]}→${t.fds[1]} (${t.fdsPerMin ?? '?'}/min)`,
      );
    }
    for (const [name, c] of Object.entries(connections))
      console.log(
        `${name.padEnd(36)} open connections after the load: ${c.afterLoad}, 10 s later: ${c.after10s}, ` +
          (c.zeroAfterS === null ? `still open after ${settleS} s` : `0 after ${c.zeroAfterS} s`),
      );
    for (const [name, s] of Object.entries(sigterm))
      console.log(
        `${name.padEnd(36)} SIGTERM → exit in ${s.ms} ms (deadline ${s.deadlineMs} ms)${s.within ? '' : ' LATE'}`,
      );
    console.log(`written: ${values.out}`);
    return 0;
  } finally {
    await mesh.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
