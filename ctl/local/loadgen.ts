// The live view's traffic generator: a small process that `local up --live` runs as the pod
// `traffic-generator` (so its requests are captured and carried by the mesh like any app's).
// Bounded: at most RATE requests per second (re-read from RATE_FILE each second, 0..1000) and
// at most MAX_INFLIGHT open requests; what does not fit is counted as skipped. Each second it
// writes per-target stats (rps, successes, p50/p99, errors by cause, versions answering) to
// STATS_FILE as JSON.
//   TARGETS='[{"name":"web-frontend","url":"http://web-frontend:8080/order","weight":6}, …]'
import http from 'node:http';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface Target {
  name: string;
  url: string;
  weight: number;
}

export interface TargetStats {
  rps: number;
  ok: number;
  failed: number;
  p50: number | null;
  p99: number | null;
  errors: Record<string, number>;
  versions: Record<string, number>;
  /** Since the start. */
  totalOk: number;
  totalFailed: number;
  /** Versions answering since the start (the split settles here; one second is a few requests). */
  totalVersions?: Record<string, number>;
}

export interface LoadStats {
  time: string;
  rate: number;
  inflight: number;
  skipped: number;
  targets: Record<string, TargetStats>;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Window {
  ok: number;
  failed: number;
  latencies: number[];
  errors: Record<string, number>;
  versions: Record<string, number>;
}
const emptyWindow = (): Window => ({ ok: 0, failed: 0, latencies: [], errors: {}, versions: {} });

function main(): void {
  const targets = JSON.parse(process.env.TARGETS ?? '[]') as Target[];
  const statsFile = process.env.STATS_FILE ?? '/tmp/ambit-loadgen.json';
  const rateFile = process.env.RATE_FILE;
  const maxInflight = Number(process.env.MAX_INFLIGHT ?? 64);
  let rate = Number(process.env.RATE ?? 20);
  const total = targets.reduce((n, t) => n + Math.max(0, t.weight), 0);
  if (targets.length === 0 || total <= 0) throw new Error('TARGETS: no target with a positive weight');
  // A new connection per request: the agent balances per connection (L4), so this shows the
  // v1/v2 split and gives the mesh edges a connection rate.
  const agent = new http.Agent({ keepAlive: false });
  const windows = new Map(targets.map((t) => [t.name, emptyWindow()] as const));
  const totals = new Map<string, { ok: number; failed: number; versions: Record<string, number> }>(
    targets.map((t) => [t.name, { ok: 0, failed: 0, versions: {} }]),
  );
  let inflight = 0;
  let skipped = 0;
  let credit = 0;

  const pick = (): Target => {
    let r = Math.random() * total;
    for (const t of targets) {
      r -= Math.max(0, t.weight);
      if (r < 0) return t;
    }
    return targets[targets.length - 1]!;
  };
  const fire = (t: Target) => {
    inflight++;
    const started = process.hrtime.bigint();
    const w = () => windows.get(t.name)!;
    const done = (ok: boolean, cause?: string, version?: string) => {
      inflight--;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const win = w();
      if (ok) {
        win.ok++;
        totals.get(t.name)!.ok++;
        win.latencies.push(ms);
      } else {
        win.failed++;
        totals.get(t.name)!.failed++;
      }
      if (cause) win.errors[cause] = (win.errors[cause] ?? 0) + 1;
      if (version) {
        win.versions[version] = (win.versions[version] ?? 0) + 1;
        const tot = totals.get(t.name)!;
        tot.versions[version] = (tot.versions[version] ?? 0) + 1;
      }
    };
    const req = http.get(t.url, { agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (chunks.length < 64) chunks.push(c);
      });
      res.on('end', () => {
        let version: string | undefined;
        try {
          version = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: string }).version;
        } catch {
          /* not JSON */
        }
        const status = res.statusCode ?? 0;
        done(status < 400, status < 400 ? undefined : `HTTP ${status}`, version);
      });
      res.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? 'error'));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
  };

  setInterval(() => {
    credit = Math.min(credit + rate / 20, rate); // at most one second of backlog
    while (credit >= 1) {
      credit--;
      if (inflight >= maxInflight) {
        skipped++;
        continue;
      }
      fire(pick());
    }
  }, 50);

  setInterval(() => {
    if (rateFile) {
      try {
        const r = Number(readFileSync(rateFile, 'utf8').trim());
        if (r >= 0 && r <= 1000) rate = r;
      } catch {
        /* keep the rate */
      }
    }
    const out: LoadStats = { time: new Date().toISOString(), rate, inflight, skipped, targets: {} };
    for (const t of targets) {
      const win = windows.get(t.name)!;
      const sorted = win.latencies.sort((a, b) => a - b);
      const tot = totals.get(t.name)!;
      out.targets[t.name] = {
        rps: win.ok + win.failed,
        ok: win.ok,
        failed: win.failed,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        errors: win.errors,
        versions: win.versions,
        totalOk: tot.ok,
        totalFailed: tot.failed,
        totalVersions: { ...tot.versions },
      };
      windows.set(t.name, emptyWindow());
    }
    writeFileSync(`${statsFile}.tmp`, JSON.stringify(out));
    renameSync(`${statsFile}.tmp`, statsFile);
  }, 1000);

  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
}

if (process.argv[1]?.endsWith('loadgen.js')) main();
