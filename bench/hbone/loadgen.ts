// Helper process: the Node load generator. One measurement per run, given as JSON in argv[2]:
//   {"mode":"rr","port":P,"tls"?:T,"durationMs":D,"size":100}      one connection, ping-pong
//   {"mode":"connect","port":P,"tls"?:T,"durationMs":D,"concurrency":C}  new connections/s
//   {"mode":"bulk","port":P,"tls"?:T,"durationMs":D,"streams":N}     write as fast as possible
// where T = {"credentials": "<credentials.json>", "serverId": "<spiffe id>"}.
// Prints one line "RESULT {json}" (with its own CPU seconds) and exits.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { loadCredentialsFile } from './pki.js';
import { tlsClientOptions } from './tls-options.js';

interface TlsSpec {
  credentials: string;
  serverId: string;
}
interface Spec {
  mode: 'rr' | 'connect' | 'bulk';
  port: number;
  tls?: TlsSpec;
  durationMs: number;
  size?: number;
  concurrency?: number;
  streams?: number;
}

let tlsOptions: ConnectionOptions | undefined;

function open(spec: Spec): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s: Socket = tlsOptions
      ? tlsConnect({ ...tlsOptions, host: '127.0.0.1', port: spec.port }, () => resolve(s))
      : tcpConnect({ host: '127.0.0.1', port: spec.port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** 100-byte request, wait for the 100-byte echo, repeat; latency per round trip in µs. */
async function requestResponse(spec: Spec): Promise<Record<string, unknown>> {
  const size = spec.size ?? 100;
  const sock = await open(spec);
  sock.setNoDelay(true);
  const payload = Buffer.alloc(size, 0x61);
  const samples: number[] = [];
  const warmupEnd = Date.now() + Math.min(500, spec.durationMs / 5);
  const end = warmupEnd + spec.durationMs;
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    let t0 = process.hrtime.bigint();
    const send = (): void => {
      got = 0;
      t0 = process.hrtime.bigint();
      sock.write(payload);
    };
    sock.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got < size) return;
      const now = process.hrtime.bigint();
      const ms = Date.now();
      if (ms > warmupEnd) samples.push(Number(now - t0) / 1000);
      if (ms >= end || samples.length >= 2_000_000) {
        resolve();
        return;
      }
      send();
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('rr: connection closed early')));
    send();
  });
  sock.removeAllListeners('close');
  sock.destroy();
  samples.sort((a, b) => a - b);
  const at = (p: number): number => samples[Math.max(1, Math.ceil((p / 100) * samples.length)) - 1] ?? NaN;
  return { count: samples.length, p50_us: at(50), p99_us: at(99) };
}

/** Open a connection, send one byte, wait for its echo, close; `concurrency` loops in parallel. */
async function connectRate(spec: Spec): Promise<Record<string, unknown>> {
  const started = Date.now();
  const end = started + spec.durationMs;
  let done = 0;
  let errors = 0;
  const one = async (): Promise<void> => {
    const sock = await open(spec);
    await new Promise<void>((resolve, reject) => {
      sock.once('data', () => {
        sock.end();
        resolve();
      });
      sock.once('error', reject);
      sock.write('x');
    });
    sock.on('error', () => {
      /* late errors after our byte came back do not matter */
    });
  };
  const loop = async (): Promise<void> => {
    while (Date.now() < end) {
      try {
        await one();
        done++;
      } catch {
        errors++;
        if (errors > 1000) throw new Error('connect: too many errors');
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency ?? 8 }, loop));
  const seconds = (Date.now() - started) / 1000;
  return { connections: done, errors, per_s: done / seconds };
}

/** Write as fast as the path takes it for `durationMs`, then end and wait until the peer closes. */
async function bulk(spec: Spec): Promise<Record<string, unknown>> {
  const streams = spec.streams ?? 1;
  const socks = await Promise.all(Array.from({ length: streams }, () => open(spec)));
  const chunk = Buffer.alloc(256 * 1024, 0x62);
  const started = process.hrtime.bigint();
  const stopAt = Date.now() + spec.durationMs;
  let bytes = 0;
  await Promise.all(
    socks.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          s.on('error', reject);
          s.on('close', () => resolve());
          s.on('data', () => {
            /* the sink sends nothing */
          });
          const pump = (): void => {
            while (Date.now() < stopAt) {
              bytes += chunk.length;
              if (!s.write(chunk)) {
                s.once('drain', pump);
                return;
              }
            }
            s.end();
          };
          pump();
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { bytes, seconds, gbps: (bytes * 8) / seconds / 1e9 };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  if (!spec.port || !spec.durationMs) throw new Error('loadgen: spec needs port and durationMs');
  if (spec.tls) tlsOptions = tlsClientOptions(loadCredentialsFile(spec.tls.credentials).client, spec.tls.serverId);
  const cpu0 = process.cpuUsage();
  const result =
    spec.mode === 'rr'
      ? await requestResponse(spec)
      : spec.mode === 'connect'
        ? await connectRate(spec)
        : spec.mode === 'bulk'
          ? await bulk(spec)
          : (() => {
              throw new Error(`loadgen: unknown mode ${String(spec.mode)}`);
            })();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`RESULT ${JSON.stringify({ ...result, cpu_s: (cpu.user + cpu.system) / 1e6 })}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
