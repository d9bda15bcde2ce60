// The chaos suite's load: an open-loop HTTP client that runs inside a pod's network namespace
// (`ip netns exec`, so the mesh captures it like any app). Requests leave at a fixed rate
// whatever the answers do, spread over the targets, on pooled keep-alive connections, for
// at most `durationMs` and `maxRequests`. Every request ends as ok, failed (with its reason:
// an error code, `HTTP <status>`, `timeout`) or misrouted (answered by another service than
// the one asked for: the body's `service` field). The summary goes to stdout as JSON.
//   CHAOS_LOAD='{"targets":[{"name":"waypoint","url":"http://10.96.0.5:8080/profile","service":"customer-service"}],"rate":500,"durationMs":5000}'
import http from 'node:http';

export interface LoadTarget {
  /** Label in the summary, e.g. `waypoint` or `l4`. */
  readonly name: string;
  readonly url: string;
  /** The service that must answer (the body's `service`). */
  readonly service: string;
}

export interface LoadSpec {
  readonly targets: readonly LoadTarget[];
  /** Requests per second, over all targets. */
  readonly rate: number;
  readonly durationMs: number;
  /** Upper bound on requests (default rate × duration). */
  readonly maxRequests?: number;
  /** Per request (default 5000). */
  readonly timeoutMs?: number;
  /** Requests waiting or running at once before new ones count as failed `client-overload` (default 5000). */
  readonly maxInflight?: number;
}

export interface TargetSummary {
  sent: number;
  ok: number;
  failed: number;
  misrouted: number;
  /** reason → count */
  reasons: Record<string, number>;
  /** Who answered misrouted requests: `<service>/<pod>` → count. */
  misroutedTo: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface LoadSummary {
  readonly spec: LoadSpec;
  readonly startedAt: string;
  readonly elapsedMs: number;
  readonly targets: Record<string, TargetSummary>;
  /** When failures happened: ms since the start → reason (the first 50). */
  readonly failures: Array<{ atMs: number; target: string; reason: string }>;
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

export function runLoad(spec: LoadSpec): Promise<LoadSummary> {
  const timeoutMs = spec.timeoutMs ?? 5000;
  const maxRequests = spec.maxRequests ?? Math.ceil((spec.rate * spec.durationMs) / 1000);
  const maxInflight = spec.maxInflight ?? 5000;
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const agents = spec.targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 128 }));
  const stats = spec.targets.map((): TargetSummary & { latencies: number[] } => ({
    sent: 0,
    ok: 0,
    failed: 0,
    misrouted: 0,
    reasons: {},
    misroutedTo: {},
    p50Ms: null,
    p99Ms: null,
    latencies: [],
  }));
  const failures: LoadSummary['failures'] = [];
  let sent = 0;
  let inflight = 0;
  let next = 0;

  return new Promise((resolve) => {
    let ticking = true;
    const finishIfDone = () => {
      if (ticking || inflight > 0) return;
      for (const a of agents) a.destroy();
      const targets: Record<string, TargetSummary> = {};
      spec.targets.forEach((t, i) => {
        const { latencies, ...rest } = stats[i]!;
        latencies.sort((a, b) => a - b);
        targets[t.name] = { ...rest, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
      });
      resolve({ spec, startedAt, elapsedMs: Date.now() - started, targets, failures });
    };
    const fail = (i: number, reason: string) => {
      const s = stats[i]!;
      s.failed++;
      s.reasons[reason] = (s.reasons[reason] ?? 0) + 1;
      if (failures.length < 50) failures.push({ atMs: Date.now() - started, target: spec.targets[i]!.name, reason });
    };
    const fire = (i: number) => {
      const t = spec.targets[i]!;
      const s = stats[i]!;
      s.sent++;
      if (inflight >= maxInflight) {
        fail(i, 'client-overload');
        return;
      }
      inflight++;
      const t0 = Date.now();
      let settled = false;
      const done = (fn: () => void) => {
        if (settled) return;
        settled = true;
        inflight--;
        fn();
        finishIfDone();
      };
      const req = http.get(t.url, { agent: agents[i], timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) => done(() => fail(i, err.code ?? 'response-error')));
        res.on('end', () =>
          done(() => {
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              fail(i, `HTTP ${status}`);
              return;
            }
            let body: { service?: string; pod?: string } = {};
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
            } catch {
              /* not JSON */
            }
            if (body.service !== t.service) {
              s.misrouted++;
              const who = `${body.service ?? '?'}/${body.pod ?? '?'}`;
              s.misroutedTo[who] = (s.misroutedTo[who] ?? 0) + 1;
              if (failures.length < 50)
                failures.push({ atMs: Date.now() - started, target: t.name, reason: `misrouted to ${who}` });
              return;
            }
            s.ok++;
            s.latencies.push(Date.now() - t0);
          }),
        );
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
      req.on('error', (err: NodeJS.ErrnoException) => done(() => fail(i, err.code ?? err.message)));
    };
    const timer = setInterval(() => {
      const elapsed = Date.now() - started;
      const due = Math.min(maxRequests, Math.floor((Math.min(elapsed, spec.durationMs) * spec.rate) / 1000));
      while (sent < due) {
        sent++;
        fire(next);
        next = (next + 1) % spec.targets.length;
      }
      if (elapsed >= spec.durationMs || sent >= maxRequests) {
        clearInterval(timer);
        ticking = false;
        finishIfDone();
      }
    }, 5);
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.CHAOS_LOAD ?? '') as LoadSpec;
  if (!(spec.rate > 0) || !(spec.durationMs > 0) || !Array.isArray(spec.targets) || spec.targets.length === 0) {
    throw new Error('CHAOS_LOAD: needs targets, a positive rate and durationMs');
  }
  process.stdout.write(`${JSON.stringify(await runLoad(spec))}\n`);
}

if (process.argv[1]?.endsWith('chaos-load.js')) {
  main().catch((err: unknown) => {
    console.error(String(err));
    process.exit(2);
  });
}
