// `local up` supervises like a kubelet: a controller killed with SIGKILL is started again and
// the data plane keeps serving meanwhile; a pod's command that exits is restarted (Deployment:
// restartPolicy Always); the restarts show on the control socket; a closed terminal (SIGHUP,
// stdout and stderr gone) leaves the mesh running, and the later SIGTERM still tears it all down.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { controlRequest, type UnitStatus } from '../../ctl/local/control.js';
import { describeNetns } from '../support/privileges.js';
import { CTL, LocalMesh, REPO, sh } from '../support/local-mesh.js';
import { sleep } from '../support/wait.js';

const BRIDGE = 'ambt-h5-br0';
const CIDR = '10.239.51.0/24';
const PREFIX = 'ambt-h5s-';
const PORT_OFFSET = 510;

describeNetns('ambitctl local up supervises its processes', () => {
  let stateDir: string;
  let mesh: LocalMesh;
  const units = () => controlRequest<UnitStatus[]>(path.join(stateDir, 'control.sock'), 'GET', '/units');
  const unit = async (name: string) => (await units()).find((u) => u.name === name)!;
  const pay = () =>
    sh(
      process.execPath,
      [
        CTL,
        'local',
        'exec',
        '--state-dir',
        stateDir,
        'order-service-0',
        '--',
        'curl',
        '-sS',
        '-m',
        '5',
        'http://payment-service:8080/pay',
      ],
      10_000,
    );
  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  }

  beforeAll(async () => {
    stateDir = path.join(await mkdtemp(path.join(tmpdir(), 'ambt-h5s-')), 'state');
    mesh = new LocalMesh({
      dir: path.join(REPO, 'examples', 'coffee-shop'),
      stateDir,
      bridge: BRIDGE,
      cidr: CIDR,
      prefix: PREFIX,
      portOffset: PORT_OFFSET,
    });
    await mesh.start();
  }, 180_000);

  afterAll(async () => {
    await mesh.stop();
    await mesh.down();
    await rm(path.dirname(stateDir), { recursive: true, force: true });
  }, 120_000);

  it('restarts a controller killed with SIGKILL; requests keep succeeding meanwhile', async () => {
    const before = await unit('controller');
    expect(before).toMatchObject({ state: 'running', restarts: 0 });
    // The agent looks destinations up on demand: one it has used keeps serving without the
    // controller; one never used before the outage waits for the controller (README, Day 2).
    expect((await pay()).code).toBe(0);
    process.kill(before.pid, 'SIGKILL');
    const results: number[] = [];
    for (let i = 0; i < 5; i++) results.push((await pay()).code);
    const after = await until('the controller restarted', async () => {
      const u = await unit('controller');
      return u.restarts === 1 && u.state === 'running' ? u : undefined;
    });
    expect(after.pid).not.toBe(before.pid);
    expect(results).toEqual([0, 0, 0, 0, 0]);
    expect(mesh.stderr).toMatch(
      /"msg":"process exited; restarting after back-off","component":"ambitctl-local","unit":"controller"/,
    );
    // The new controller serves: the agent gets config from it again (a config change arrives).
    const res = await pay();
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as { service: string }).service).toBe('payment-service');
  }, 60_000);

  it('restarts a pod whose command exits (a Deployment: restartPolicy Always)', async () => {
    const before = await unit('pod/coffee-shop/payment-service-0');
    process.kill(before.pid, 'SIGTERM');
    const after = await until('the pod restarted', async () => {
      const u = await unit('pod/coffee-shop/payment-service-0');
      return u.restarts === 1 && u.state === 'running' ? u : undefined;
    });
    expect(after.pid).not.toBe(before.pid);
    const ps = await sh(process.execPath, [CTL, 'local', 'ps', '--state-dir', stateDir]);
    expect(ps.stdout).toMatch(
      new RegExp(`^pod/coffee-shop/payment-service-0\\s+${after.pid}\\s+running\\s+1\\s+Always`, 'm'),
    );
    const res = await until('payment-service answering again', async () => {
      const r = await pay();
      return r.code === 0 ? r : undefined;
    });
    expect((JSON.parse(res.stdout) as { service: string }).service).toBe('payment-service');
  }, 60_000);

  it('keeps running when the terminal closes (SIGHUP), and SIGTERM later tears everything down', async () => {
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      pid: number;
      processes: Array<{ pid: number }>;
    };
    mesh.closeTerminal();
    process.kill(record.pid, 'SIGHUP');
    await sleep(1500);
    expect(existsSync(`/proc/${record.pid}`)).toBe(true);
    expect((await pay()).code).toBe(0);
    const code = await mesh.stop();
    expect(code).toBe(0);
    for (const p of record.processes) expect(existsSync(`/proc/${p.pid}`), `process ${p.pid} left behind`).toBe(false);
    expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(PREFIX);
    expect(existsSync(path.join(stateDir, 'local.json'))).toBe(false);
  }, 60_000);
});
