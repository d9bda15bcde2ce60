// The CA bench: certificates per second through the controller's CertificateService over
// gRPC/TLS, with token authentication and node authorisation, as agents obtain them.
// Per round: a fresh controller process (ca-server.ts) and `clients` client processes
// (ca-client.ts), each with `concurrency` requests in flight; the round's figure is the sum
// of the clients' rates. Also the CA alone, in process (signing a parsed CSR), for reference.
// Writes bench/results/controller-ca.json: median, min and max over the rounds.
//
//   npx tsc -p . && node dist/bench/controller/ca-bench.js [--rounds 3] [--seconds 5]
//     [--clients 1] [--concurrency 32] [--services 1000] [--profile DIR] [--no-write]
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { CertificateAuthority } from '../../core/identity/ca.js';
import { createCsr, generateWorkloadKey, parseCsr } from '../../core/identity/csr.js';
import { positiveOption } from '../common/args.js';
import { ChildGroup } from '../common/children.js';
import { cpuSecondsOfPid } from '../common/cpu.js';
import { buildResults, writeResults, type ResultRow } from '../common/results.js';
import { round } from '../common/stats.js';
import { nodeName } from './objects.js';

const IDENTITY = 'spiffe://cluster.local/ns/bench0/sa/sa0'; // pod svc0-0, on bench-node-0
const here = dirname(fileURLToPath(import.meta.url));
const script = (name: string): string => join(here, `${name}.js`);
const quietEnv = { ...process.env, AMBIT_LOG_LEVEL: 'error' };
const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

export interface CaBenchOptions {
  seconds: number;
  clients: number;
  concurrency: number;
  services: number;
  profile?: string;
}
interface Options extends CaBenchOptions {
  rounds: number;
  write: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      clients: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '32' },
      services: { type: 'string', default: '1000' },
      profile: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  return {
    rounds: Math.round(positiveOption('rounds', values.rounds)),
    seconds: positiveOption('seconds', values.seconds),
    clients: Math.round(positiveOption('clients', values.clients)),
    concurrency: Math.round(positiveOption('concurrency', values.concurrency)),
    services: Math.round(positiveOption('services', values.services)),
    ...(values.profile ? { profile: values.profile } : {}),
    write: !values['no-write'],
  };
}

const tagged = <T>(line: string): T => JSON.parse(line.slice(line.indexOf(' ') + 1)) as T;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

interface ClientResult {
  certs: number;
  errors: number;
  lastError: string;
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  cpu_s: number;
}

/** One round over gRPC: certificates/s summed over the clients, and the controller's CPU share. */
export async function grpcRound(
  o: CaBenchOptions,
  dir: string,
  roundNo: number,
): Promise<{ perS: number; p99: number; serverCpu: number; serverMsPerCert: number; clientMsPerCert: number }> {
  const group = new ChildGroup();
  const roundDir = mkdtempSync(join(dir, 'ca-round-'));
  try {
    const token = randomBytes(24).toString('hex');
    const tokenFile = join(roundDir, 'node-tokens');
    writeFileSync(tokenFile, `${token} ${nodeName(0)}\n`, { mode: 0o600 });
    const rootsFile = join(roundDir, 'roots.pem');
    const profileArgs = o.profile
      ? ['--cpu-prof', '--cpu-prof-dir', o.profile, '--cpu-prof-name', `ca-server-round${roundNo}.cpuprofile`]
      : [];
    const server = await group.start(
      process.execPath,
      [...profileArgs, script('ca-server'), JSON.stringify({ services: o.services, nodes: 100, tokenFile, rootsFile })],
      {
        name: 'ca-server',
        env: quietEnv,
        readyLine: /^READY /,
        readyTimeoutMs: 180_000,
      },
    );
    const ready = tagged<{ grpc: number; identity: string }>(server.readyMessage);
    const spec = {
      address: `127.0.0.1:${ready.grpc}`,
      rootsFile,
      controllerIdentity: ready.identity,
      token,
      identity: IDENTITY,
      durationMs: o.seconds * 1000,
      concurrency: o.concurrency,
    };
    const clientProfile = (i: number): string[] =>
      o.profile
        ? ['--cpu-prof', '--cpu-prof-dir', o.profile, '--cpu-prof-name', `ca-client${i}-round${roundNo}.cpuprofile`]
        : [];
    const clients = await Promise.all(
      Array.from({ length: o.clients }, (_, i) =>
        group.start(process.execPath, [...clientProfile(i), script('ca-client'), JSON.stringify(spec)], {
          name: `ca-client-${i}`,
          env: quietEnv,
        }),
      ),
    );
    const cpu0 = cpuSecondsOfPid(server.pid);
    const t0 = performance.now();
    const results = await Promise.all(
      clients.map(async (c) => tagged<ClientResult>(await c.nextLine(/^RESULT /, (o.seconds + 120) * 1000))),
    );
    const serverCpu = (cpuSecondsOfPid(server.pid) - cpu0) / ((performance.now() - t0) / 1000);
    for (const r of results) if (r.errors > 0) log(`  ${r.errors} failed requests (${r.lastError})`);
    if (results.some((r) => r.certs === 0))
      throw new Error(`a client signed nothing: ${results.map((r) => r.lastError).join('; ')}`);
    server.process.kill('SIGTERM');
    await server.exited;
    const perS = results.reduce((a, r) => a + r.per_s, 0);
    const certs = results.reduce((a, r) => a + r.certs, 0);
    const clientCpu = results.reduce((a, r) => a + r.cpu_s, 0);
    return {
      perS,
      p99: Math.max(...results.map((r) => r.p99_ms)),
      serverCpu,
      serverMsPerCert: (serverCpu / perS) * 1000,
      clientMsPerCert: (clientCpu / certs) * 1000,
    };
  } finally {
    await group.close();
    rmSync(roundDir, { recursive: true, force: true });
  }
}

/** The CA alone: parsed CSRs signed in this process, 16 at a time (its signatures run on libuv's thread pool). */
export async function inProcessRound(seconds: number): Promise<number> {
  const ca = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
  const csrs = await Promise.all(
    Array.from({ length: 64 }, async () => {
      const csrPem = createCsr(IDENTITY, (await generateWorkloadKey()).privateKey);
      return { csrPem, csr: parseCsr(csrPem) };
    }),
  );
  for (let i = 0; i < 200; i++) await ca.sign({ ...csrs[i % 64]!, identity: IDENTITY, ttlSeconds: 86_400 });
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) await ca.sign({ ...csrs[n++ % 64]!, identity: IDENTITY, ttlSeconds: 86_400 });
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const o = options();
  if (o.profile) mkdirSync(o.profile, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-ca-'));
  const grpc: number[] = [];
  const p99s: number[] = [];
  const inProc: number[] = [];
  const cpu: Array<{ server: number; client: number }> = [];
  try {
    for (let r = 1; r <= o.rounds; r++) {
      const g = await grpcRound(o, dir, r);
      grpc.push(g.perS);
      p99s.push(g.p99);
      const ip = await inProcessRound(Math.min(o.seconds, 3));
      inProc.push(ip);
      log(
        `round ${r}: ${g.perS.toFixed(0)} certificates/s over gRPC (p99 ${g.p99.toFixed(1)} ms; ` +
          `controller ${(g.serverCpu * 100).toFixed(0)}% CPU, ` +
          `${g.serverMsPerCert.toFixed(2)} ms CPU per certificate; ` +
          `clients ${g.clientMsPerCert.toFixed(2)} ms CPU per certificate); ${ip.toFixed(0)}/s signing in process`,
      );
      cpu.push({ server: g.serverMsPerCert, client: g.clientMsPerCert });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const row = (name: string, xs: number[]): ResultRow => ({
    case: name,
    certs_per_s: round(median(xs), 0),
    certs_per_s_min: round(Math.min(...xs), 0),
    certs_per_s_max: round(Math.max(...xs), 0),
    rounds: xs.length,
  });
  const rows: ResultRow[] = [
    {
      ...row('ca-grpc', grpc),
      p99_ms: round(median(p99s), 1),
      clients: o.clients,
      concurrency: o.concurrency,
      controller_cpu_ms_per_cert: round(median(cpu.map((c) => c.server)), 2),
      client_cpu_ms_per_cert: round(median(cpu.map((c) => c.client)), 2),
    },
    row('ca-inproc', inProc),
  ];
  const results = buildResults('controller-ca', rows);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  if (o.write) log(`wrote ${writeResults(results)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ca bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
