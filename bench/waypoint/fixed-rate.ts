// Load helper started inside the client pod's netns (`ip netns exec <pod> node fixed-rate.js SPEC`):
//   {"mode":"probe","url":U}                      one GET; prints RESULT {status, headers, body}
//   {"mode":"rate","url":U,"rps":R,"durationMs":D,"connections":C,"warmupMs":W}
//       open-loop HTTP/1.1 keep-alive load at a fixed rate (wrk2 is not in Debian, and h2load
//       reports no percentiles). Request i is due at start + i/R; its latency runs from that
//       due time to the end of its response, so a stalled proxy is not hidden by the client
//       waiting (no coordinated omission). Prints RESULT {count, errors, achieved_rps, p50_ms, p99_ms,
//       max_ms, answered}; `answered` counts the warm-up's answers too (for CPU per request).
import http from 'node:http';

interface Spec {
  mode: 'probe' | 'rate';
  url: string;
  rps?: number;
  durationMs?: number;
  connections?: number;
  warmupMs?: number;
}

const out = (v: unknown): void => {
  process.stdout.write(`RESULT ${JSON.stringify(v)}\n`);
};

function get(
  agent: http.Agent,
  url: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out after 10 s')));
  });
}

async function probe(spec: Spec): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  out(await get(agent, spec.url));
}

async function rate(spec: Spec): Promise<void> {
  const rps = spec.rps ?? 1000;
  const warmup = spec.warmupMs ?? 1000;
  const duration = spec.durationMs ?? 5000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections ?? 16, scheduling: 'fifo' });
  const samples: number[] = [];
  let errors = 0;
  let lastError = '';
  let inFlight = 0;
  let answered = 0;
  let lastAnswerAt = 0;
  const start = performance.now();
  const measureFrom = start + warmup;
  const end = measureFrom + duration;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // Send every request that is due by now (a late timer sends a small burst, as wrk2 does).
      while (start + (sent * 1000) / rps <= now && start + (sent * 1000) / rps < end) {
        const due = start + (sent * 1000) / rps;
        sent++;
        inFlight++;
        get(agent, spec.url)
          .then((r) => {
            if (r.status !== 200) throw new Error(`status ${r.status}`);
            answered++;
            lastAnswerAt = performance.now();
            if (due >= measureFrom) samples.push(performance.now() - due);
          })
          .catch((err: unknown) => {
            if (due >= measureFrom) {
              errors++;
              lastError = (err as Error).message;
            }
          })
          .finally(() => {
            inFlight--;
            if (inFlight === 0 && performance.now() >= end) resolve();
          });
      }
      if (now < end) setTimeout(tick, 1);
      else if (inFlight === 0) resolve();
    };
    tick();
  });
  agent.destroy();
  samples.sort((a, b) => a - b);
  const at = (p: number): number => samples[Math.max(1, Math.ceil((p / 100) * samples.length)) - 1] ?? NaN;
  out({
    count: samples.length,
    errors,
    lastError,
    achieved_rps: samples.length / (Math.max(duration, lastAnswerAt - measureFrom) / 1000),
    p50_ms: at(50),
    p99_ms: at(99),
    max_ms: samples[samples.length - 1] ?? NaN,
    answered,
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  if (!spec.url) throw new Error('fixed-rate: spec needs a url');
  if (spec.mode === 'probe') await probe(spec);
  else if (spec.mode === 'rate') await rate(spec);
  else throw new Error(`fixed-rate: unknown mode ${String(spec.mode)}`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`fixed-rate: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
