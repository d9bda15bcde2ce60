// Helper process started inside a pod's netns (`ip netns exec <pod> node netns-helper.js SPEC`):
//   {"mode":"echo","port":P}                                   echo server; prints READY
//   {"mode":"rr","host":H,"port":P,"durationMs":D,"size":100}   one connection, 100-byte ping-pong;
//                                                                 RESULT {count, p50_us, p99_us}
//   {"mode":"connect","host":H,"port":P,"durationMs":D,"concurrency":C}
//                                                                 connect, 1 byte echoed, close; RESULT {per_s}
// Its sockets are ordinary app sockets of that pod: in an enrolled pod they are captured.
import { connect, createServer, type Socket } from 'node:net';

interface Spec {
  mode: 'echo' | 'rr' | 'connect';
  host?: string;
  port: number;
  durationMs?: number;
  size?: number;
  concurrency?: number;
}

const out = (tag: string, v: unknown): void => {
  process.stdout.write(`${tag} ${JSON.stringify(v)}\n`);
};

function open(spec: Spec): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: spec.host ?? '127.0.0.1', port: spec.port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

function echo(spec: Spec): void {
  const server = createServer({ noDelay: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('error', () => s.destroy());
  });
  server.listen({ port: spec.port, host: '0.0.0.0', backlog: 4096 }, () => out('READY', { port: spec.port }));
}

async function requestResponse(spec: Spec): Promise<void> {
  const size = spec.size ?? 100;
  const sock = await open(spec);
  const payload = Buffer.alloc(size, 0x61);
  const samples: number[] = [];
  const duration = spec.durationMs ?? 2000;
  const warmupEnd = Date.now() + Math.min(500, duration / 5);
  const end = warmupEnd + duration;
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
      const now = Date.now();
      if (now > warmupEnd) samples.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (now >= end) {
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
  out('RESULT', { count: samples.length, p50_us: at(50), p99_us: at(99) });
}

async function connectRate(spec: Spec): Promise<void> {
  const started = Date.now();
  const end = started + (spec.durationMs ?? 2000);
  let done = 0;
  let errors = 0;
  let lastError = '';
  const one = async (): Promise<void> => {
    const sock = await open(spec);
    await new Promise<void>((resolve, reject) => {
      sock.once('data', () => {
        sock.end();
        resolve();
      });
      sock.once('error', reject);
      sock.once('close', () => reject(new Error('closed before the echo')));
      sock.write('x');
    });
    sock.on('error', () => {
      /* after the echo: does not matter */
    });
  };
  const loop = async (): Promise<void> => {
    while (Date.now() < end) {
      try {
        await one();
        done++;
      } catch (err) {
        errors++;
        lastError = (err as Error).message;
        if (errors > 1000) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency ?? 8 }, loop));
  out('RESULT', { connections: done, errors, lastError, per_s: done / ((Date.now() - started) / 1000) });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  if (!spec.port) throw new Error('netns-helper: spec needs a port');
  if (spec.mode === 'echo') {
    echo(spec);
    return;
  }
  if (spec.mode === 'rr') await requestResponse(spec);
  else if (spec.mode === 'connect') await connectRate(spec);
  else throw new Error(`netns-helper: unknown mode ${String(spec.mode)}`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`netns-helper: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
