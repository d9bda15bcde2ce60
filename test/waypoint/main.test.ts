// `ambit-waypoint` as a process in file mode: it starts, serves its config on the admin
// endpoint, hot-reloads a new file and keeps the last good config when a file is broken.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { to, waypointConfig } from '../support/waypoint-harness.js';
import type { WaypointConfigDump } from '../../core/admin/dump.js';
import { pollUntil } from '../support/wait.js';
import { freePort } from '../support/net.js';

const MAIN = path.resolve('dist/waypoint/main.js');

async function dump(adminPort: number): Promise<WaypointConfigDump> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/config_dump`);
  return (await res.json()) as WaypointConfigDump;
}

const waitFor = <T>(fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> =>
  pollUntil(fn, { what: 'the waypoint', timeoutMs: ms, intervalMs: 100 });

describe('ambit-waypoint process (file mode)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wp-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves its config, reloads it, and keeps the last good one on a broken file', async () => {
    const file = path.join(dir, 'waypoint.json');
    const first = {
      ...waypointConfig([{ source: 'coffee-shop/a', name: 'first', matches: [], destinations: [to(undefined)] }], []),
      version: 'v1',
    };
    writeFileSync(file, JSON.stringify(first));
    child = spawn(process.execPath, [MAIN, '--mode', 'waypoint'], {
      env: {
        ...process.env,
        POD_NAMESPACE: 'coffee-shop',
        SERVICE_ACCOUNT: 'waypoint',
        AMBIT_WAYPOINT_CONFIG_FILE: file,
        AMBIT_STATE_DIR: dir,
        AMBIT_HBONE_PORT: '0',
        // The admin port from the kernel's free ones (a random port in the ephemeral range could
        // be taken by a parallel suite's connection); metrics and ready off (0), not used here.
        AMBIT_ADMIN_PORT: String(await freePort()),
        AMBIT_METRICS_PORT: '0',
        AMBIT_READY_PORT: '0',
        AMBIT_HBONE_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const ready = await new Promise<{ hbone: number; admin: number }>((resolve, reject) => {
      createInterface({ input: child!.stdout! }).on('line', (line) => {
        if (line.startsWith('ready ')) resolve(JSON.parse(line.slice(6)) as { hbone: number; admin: number });
      });
      child!.once('exit', (code) => reject(new Error(`waypoint exited with ${code}: ${stderr.slice(-2000)}`)));
    });
    expect(ready.hbone).toBeGreaterThan(0);
    const d1 = await dump(ready.admin);
    expect(d1.identity).toBe('spiffe://cluster.local/ns/coffee-shop/sa/waypoint');
    expect(d1.version).toBe('v1');

    const second = {
      ...first,
      version: 'v2',
      virtualHosts: first.virtualHosts.map((v) => ({ ...v, routes: [{ ...v.routes[0]!, name: 'second' }] })),
    };
    writeFileSync(file, JSON.stringify(second));
    const d2 = await waitFor(async () => {
      const d = await dump(ready.admin);
      return d.version === 'v2' ? d : undefined;
    });
    expect(d2.routes[0]?.routes[0]?.name).toBe('second');

    writeFileSync(file, '{ "virtualHosts": [ broken');
    await new Promise((r) => setTimeout(r, 500));
    const d3 = await dump(ready.admin);
    expect(d3.version).toBe('v2');
  });

  it('refuses to start without a namespace, with a clear message', async () => {
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [MAIN], {
        env: { PATH: process.env.PATH },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      p.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/POD_NAMESPACE is not set/);
  });
});
