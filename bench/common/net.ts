// Loopback helpers for benchmarks.
import { connect, createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${host}:${port} not accepting connections after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Listen on an ephemeral 127.0.0.1 port with a deep backlog; resolves with the port. */
export function listenLoopback(server: import('node:net').Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : 0);
    });
  });
}

/** waitForPort, failing at once (with the child's last stderr lines) if the child exits first. */
export async function waitForPortOf(
  child: import('./children.js').Child,
  port: number,
  timeoutMs = 10_000,
): Promise<void> {
  let listening = false;
  const exited = new Promise<never>((_resolve, reject) => {
    void child.exited.then((code) => {
      if (!listening)
        reject(
          new Error(
            `${child.name} exited (${code}) before listening on ${port}: ${child.stderr.slice(-5).join(' | ')}`,
          ),
        );
    });
  });
  exited.catch(() => {
    /* reported through the race below */
  });
  await Promise.race([waitForPort(port, timeoutMs), exited]);
  listening = true;
}
