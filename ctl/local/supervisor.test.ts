// The supervisor with real child processes (no root): restart policies, back-off, surge restarts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { processLine } from './live.js';
import { startProcess, type Started } from './processes.js';
import type { ProcessRecord } from './state.js';
import { nextDelay, shouldRestart, Supervisor, type RestartPolicy } from './supervisor.js';
import { pollUntil, sleep } from '../../test/support/wait.js';

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  await pollUntil(check, { what, timeoutMs, intervalMs: 20 });
}

describe('supervisor', () => {
  let dir: string;
  const supervisors: Supervisor[] = [];
  const started: Started[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambt-h5-sup-'));
  });
  afterAll(async () => {
    for (const s of supervisors) s.stop();
    for (const s of started) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  /** A unit running `node -e script`; every start is kept in `started`. */
  function make(policy: RestartPolicy, script: string, ready?: (s: Started) => Promise<void>) {
    const processes: ProcessRecord[] = [];
    const sup = new Supervisor({
      log: createLogger('test'),
      processes,
      onChange: () => undefined,
      backoff: { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 },
    });
    supervisors.push(sup);
    const starts: Started[] = [];
    sup.add({
      name: 'pod/ns/app',
      policy,
      graceMs: 1000,
      ...(ready ? { ready } : {}),
      start: () => {
        const s = startProcess({
          role: 'pod',
          pod: 'ns/app',
          cmd: process.execPath,
          args: ['-e', script],
          env: process.env,
          logFile: path.join(dir, 'app.log'),
        });
        starts.push(s);
        started.push(s);
        return s;
      },
    });
    return { sup, starts, processes };
  }

  it('follows the restart policy', () => {
    expect([0, 1, null].map((c) => shouldRestart('Always', c))).toEqual([true, true, true]);
    expect([0, 1, null].map((c) => shouldRestart('OnFailure', c))).toEqual([false, true, true]);
    expect([0, 1, null].map((c) => shouldRestart('Never', c))).toEqual([false, false, false]);
  });

  it('doubles the back-off up to the cap and starts again after a long run', () => {
    const o = { initialMs: 100, maxMs: 1000, resetAfterMs: 5000 };
    const seq: number[] = [];
    let d = 0;
    for (let i = 0; i < 6; i++) seq.push((d = nextDelay(d, 10, o)));
    expect(seq).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(nextDelay(1000, 6000, o)).toBe(100);
  });

  it('restarts a process that is killed (Always), with its record updated', async () => {
    const { sup, starts, processes } = make('Always', 'setInterval(() => {}, 1000)');
    await until('the first start', () => starts.length === 1);
    const first = starts[0]!;
    process.kill(first.pid, 'SIGKILL');
    await until('a restart', () => starts.length === 2);
    await until('the record', () => processes.length === 1 && processes[0]!.pid === starts[1]!.pid);
    expect(sup.list()).toMatchObject([{ name: 'pod/ns/app', state: 'running', restarts: 1, lastExit: { code: null } }]);
    expect(processLine(sup.list())).toContain('pod/ns/app ×1');
  });

  it('OnFailure restarts a failing command with growing back-off, and leaves a clean exit alone', async () => {
    const failing = make('OnFailure', 'process.exit(3)');
    await until('three restarts', () => failing.starts.length >= 4);
    failing.sup.stop();
    expect(failing.sup.list()[0]!.restarts).toBeGreaterThanOrEqual(3);
    const done = make('OnFailure', 'process.exit(0)');
    await until('the exit', () => done.sup.list()[0]!.state === 'exited');
    await sleep(300);
    expect(done.starts).toHaveLength(1);
    expect(done.sup.list()[0]).toMatchObject({ state: 'exited', restarts: 0, lastExit: { code: 0 } });
    expect(processLine(done.sup.list())).toContain('not running: pod/ns/app (exited, exit 0)');
  });

  it('Never leaves a crashed process down', async () => {
    const { sup, starts } = make('Never', 'process.exit(1)');
    await until('the exit', () => sup.list()[0]!.state === 'exited');
    await sleep(300);
    expect(starts).toHaveLength(1);
  });

  it('a surge restart starts the new process and waits for it to be ready before it stops the old one', async () => {
    const alive = (s: Started) => s.child.exitCode === null && s.child.signalCode === null;
    let oldAliveWhenNewReady: boolean | undefined;
    const { sup, starts, processes } = make('Always', 'setInterval(() => {}, 1000)', async (s) => {
      if (s === starts[1]) {
        await sleep(200);
        oldAliveWhenNewReady = alive(starts[0]!);
      }
    });
    await until('the first start', () => starts.length === 1);
    const status = await sup.restart('pod/ns/app', { surge: true });
    expect(oldAliveWhenNewReady).toBe(true);
    expect(alive(starts[0]!)).toBe(false);
    expect(status).toMatchObject({ restarts: 1, state: 'running', pid: starts[1]!.pid });
    await until('the record', () => processes.length === 1 && processes[0]!.pid === starts[1]!.pid);
    await sleep(200);
    expect(starts).toHaveLength(2); // the old one's exit is no crash: nothing restarted
  });
});
