// Helper process of the CA bench: an agent's certificate client (core/identity's gRPC CA
// client: TLS, controller identity pinned, bearer token) keeping `concurrency` requests in
// flight for `durationMs`, after a warm-up. CSRs are made before the clock starts (key
// generation is the workload's cost, not the CA's). Spec (JSON in argv[2]):
// {"address","rootsFile","controllerIdentity","token","identity","durationMs","concurrency"}.
// Prints RESULT {certs, errors, lastError, per_s, p50_ms, p99_ms, cpu_s}.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createCsr, generateWorkloadKey } from '../../core/identity/csr.js';
import { createGrpcCaClient } from '../../core/identity/grpc-ca-client.js';
import { percentile } from '../common/stats.js';

interface Spec {
  address: string;
  rootsFile: string;
  controllerIdentity: string;
  token: string;
  identity: string;
  durationMs: number;
  concurrency: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const csrs = await Promise.all(
    Array.from({ length: 64 }, async () => createCsr(spec.identity, (await generateWorkloadKey()).privateKey)),
  );
  const client = createGrpcCaClient({
    address: spec.address,
    rootsPem: readFileSync(spec.rootsFile, 'utf8'),
    token: spec.token,
    serverIdentity: spec.controllerIdentity,
    timeoutMs: 30_000,
  });
  let n = 0;
  const sign = (): Promise<unknown> =>
    client.sign({ csrPem: csrs[n++ % csrs.length]!, identity: spec.identity, ttlSeconds: 86_400 });
  // Warm-up: TLS connection, JIT, the server's token cache.
  for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: spec.concurrency }, sign));

  const latencies: number[] = [];
  let done = 0;
  let errors = 0;
  let lastError = '';
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + spec.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await sign();
        done++;
        latencies.push(performance.now() - s);
      } catch (err) {
        errors++;
        lastError = (err as Error).message;
        if (errors > 100) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, loop));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  client.close();
  const result = {
    certs: done,
    errors,
    lastError,
    per_s: done / seconds,
    p50_ms: latencies.length ? percentile(latencies, 50) : 0,
    p99_ms: latencies.length ? percentile(latencies, 99) : 0,
    cpu_s: (cpu.user + cpu.system) / 1e6,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`ca-client: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
