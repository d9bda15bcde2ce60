// HBONE across processes: the server runs in a child that serves an inherited listening fd
// (listen({fd})), and the client pool survives the child being killed or stopped.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from '../../core/hbone/index.js';
import { closed, pki, readAll, stablePort, startEcho, target } from '../support/hbone.js';
import type { Pki, TcpTarget } from '../support/hbone.js';

describe('hbone server in another process on an inherited fd', () => {
  let dir: string;
  let bundle: string;
  let p: Pki;
  let echo: TcpTarget;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ambit-hbone-'));
    bundle = join(dir, 'child-server.mjs');
    await build({
      entryPoints: [join(import.meta.dirname, 'child-server.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'warning',
    });
    p = await pki();
    writeFileSync(join(dir, 'creds.json'), JSON.stringify(p.server));
    echo = await startEcho();
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Listen here, hand the listening fd to a child as fd 3, close ours; resolve once it serves. */
  async function startChild(port?: number): Promise<{ child: ChildProcess; port: number }> {
    const listener = net.createServer();
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, '127.0.0.1', resolve);
    });
    const bound = (listener.address() as net.AddressInfo).port;
    // The listening fd (libuv's, a Linux-only detail) is duplicated into the child as fd 3.
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, [bundle], {
      stdio: ['ignore', 'pipe', 'inherit', fd],
      env: { ...process.env, AMBIT_TEST_CREDS: join(dir, 'creds.json'), AMBIT_LOG_LEVEL: 'error' },
    });
    children.push(child);
    listener.close(); // the child holds its own copy of the fd
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) =>
        d.toString().startsWith('ready') ? resolve() : reject(new Error(d.toString())),
      );
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    return { child, port: bound };
  }

  async function roundTrip(pool: HbonePool, port: number, text: string): Promise<void> {
    const tunnel = await pool.connect({ source: p.client, target: target(port, echo.port, p.server.identity) });
    tunnel.end(text);
    expect((await readAll(tunnel)).toString()).toBe(text);
  }

  it('serves tunnels on a listening fd made by another process', async () => {
    const { child, port } = await startChild();
    const pool = new HbonePool();
    await roundTrip(pool, port, 'through an inherited fd');
    expect(pool.stats()).toMatchObject({ handshakes: 1, tunnelsOpened: 1 });
    pool.destroy();
    child.kill('SIGKILL');
  });

  it('replaces the connection after the server process is killed, then stopped gracefully', async () => {
    const pool = new HbonePool();
    let { child, port } = await startChild(await stablePort());
    await roundTrip(pool, port, 'first');
    const open = await pool.connect({ source: p.client, target: target(port, echo.port, p.server.identity) });
    open.on('error', () => undefined);
    const killed = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await Promise.all([closed(open), killed]);
    ({ child, port } = await startChild(port));
    await roundTrip(pool, port, 'after kill -9');
    expect(pool.stats().handshakes).toBe(2);

    // SIGTERM: GOAWAY; a tunnel in progress finishes, the next one goes to the new process
    const inFlight = await pool.connect({ source: p.client, target: target(port, echo.port, p.server.identity) });
    inFlight.write('half ');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const closing = new Promise<void>((resolve) =>
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('closing')) resolve();
      }),
    );
    child.kill('SIGTERM');
    await closing;
    inFlight.end('and the rest');
    expect((await readAll(inFlight)).toString()).toBe('half and the rest');
    await exited;
    ({ child, port } = await startChild(port));
    await roundTrip(pool, port, 'after graceful stop');
    expect(pool.stats()).toMatchObject({ handshakes: 3, tunnelsFailed: 0 });
    pool.destroy();
  });
});
