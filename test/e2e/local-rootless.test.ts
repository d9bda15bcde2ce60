// `ambitctl local up` as an unprivileged user (uid 65534 via setpriv): the mesh runs in a user
// + network + mount namespace, so nothing appears in the host's netns list or links; node
// ports are forwarded to the host's 127.0.0.1; `local exec` enters the namespaces; after a
// crash (`kill -9` of local up) `local down` leaves no process or state behind.
// Needs root (to become the other user) and readable dist/ + examples/ for that user;
// skipped with the reason otherwise (e.g. a checkout under /root), failed instead under CI=true.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeNetns } from '../support/privileges.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';
import { REPO_ROOT as REPO } from '../support/repo.js';

const CTL = path.join(REPO, 'dist', 'ctl', 'main.js');
const AS_USER = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${tmpdir()}`];
const PORT_OFFSET = 960;

function unavailable(): string | undefined {
  if (!existsSync(CTL)) return `${CTL} is missing: run \`npm run build\` first`;
  const probe = spawnSync(
    AS_USER[0]!,
    [
      ...AS_USER.slice(1),
      'sh',
      '-c',
      `test -r "${CTL}" && test -r "${path.join(REPO, 'examples', 'coffee-shop', 'service.mjs')}" && unshare --user --map-root-user --net --mount true`,
    ],
    { encoding: 'utf8' },
  );
  return probe.status === 0
    ? undefined
    : `uid 65534 cannot read the checkout or create user namespaces: ${probe.stderr.trim() || probe.error?.message || `exit ${probe.status}`}`;
}

function asUser(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      AS_USER[0]!,
      [...AS_USER.slice(1), process.execPath, CTL, ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr });
      },
    );
  });
}

const why = process.platform === 'linux' && process.getuid?.() === 0 ? unavailable() : undefined;

/** Outside CI a machine that cannot run this suite skips it; in CI that is a failure. */
function skipOrFail(ctx: { skip: (note?: string) => void }, reason: string): void {
  if (process.env.CI === 'true') throw new Error(`the rootless suite cannot run in CI: ${reason}`);
  ctx.skip(reason);
}

describeNetns('ambitctl local up without root (user namespaces)', () => {
  let stateDir: string;
  let up: ChildProcess | undefined;
  let stderr = '';

  beforeAll(async () => {
    if (why) return;
    stateDir = path.join(await mkdtemp(path.join(tmpdir(), 'ambt-h9-rl-')), 'state');
    await chmod(path.dirname(stateDir), 0o777);
    up = spawn(
      AS_USER[0]!,
      [
        ...AS_USER.slice(1),
        process.execPath,
        CTL,
        'local',
        'up',
        '-f',
        path.join(REPO, 'examples', 'coffee-shop'),
        '--state-dir',
        stateDir,
        '--port-offset',
        String(PORT_OFFSET),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    up.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      up!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.split('\n').includes('ready')) resolve();
      });
      up!.once('exit', (code) => reject(new Error(`local up exited (${code}) before ready:\n${stderr.slice(-4000)}`)));
    });
  }, 180_000);

  afterAll(async () => {
    if (why) return;
    if (up && up.exitCode === null) {
      up.kill('SIGKILL');
    }
    await asUser(['local', 'down', '--state-dir', stateDir]);
    await rm(path.dirname(stateDir), { recursive: true, force: true });
  }, 120_000);

  it("runs the mesh out of the host's sight, with node ports on the host's 127.0.0.1", async (ctx) => {
    if (why) {
      skipOrFail(ctx, why);
      return;
    }
    const hostNetns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(hostNetns).not.toContain('ambit-coffee-shop-');
    const dump = (await (await fetch(`http://127.0.0.1:${15000 + PORT_OFFSET}/config_dump`)).json()) as AgentConfigDump;
    expect(dump.pods.map((p) => p.name)).toContain('order-service-0');
    const allowed = await asUser([
      'local',
      'exec',
      '--state-dir',
      stateDir,
      'order-service',
      '--',
      'curl',
      '-sS',
      '-m',
      '10',
      'http://payment-service:8080/pay',
    ]);
    expect(allowed.code).toBe(0);
    expect((JSON.parse(allowed.stdout) as { service: string }).service).toBe('payment-service');
    // Denied at the namespace's waypoint: 403 (its metrics are forwarded to 127.0.0.1:15100+offset too).
    const denied = await asUser([
      'local',
      'exec',
      '--state-dir',
      stateDir,
      'inventory-service',
      '--',
      'curl',
      '-sS',
      '-m',
      '10',
      '-w',
      '\n%{http_code}',
      'http://payment-service:8080/pay',
    ]);
    expect(denied.stdout.trim().split('\n')).toEqual(['RBAC: access denied', '403']);
    expect(await (await fetch(`http://127.0.0.1:${15100 + PORT_OFFSET}/metrics`)).text()).toMatch(
      /istio_requests_total\{reporter="waypoint",[^}]*response_code="403"\} [1-9]/,
    );
  }, 60_000);

  it('local down cleans up after local up was killed', async (ctx) => {
    if (why) {
      skipOrFail(ctx, why);
      return;
    }
    const record = JSON.parse(await readFile(path.join(stateDir, 'local.json'), 'utf8')) as {
      pid: number;
      processes: Array<{ pid: number }>;
    };
    process.kill(record.pid, 'SIGKILL');
    await new Promise((r) => up!.once('exit', r));
    const left = record.processes.map((p) => p.pid).filter((pid) => existsSync(`/proc/${pid}`));
    expect(left.length).toBeGreaterThan(0); // the crash left the pods, agent and controller running
    const down = await asUser(['local', 'down', '--state-dir', stateDir]);
    expect(down.code).toBe(0);
    for (const pid of record.processes.map((p) => p.pid))
      expect(existsSync(`/proc/${pid}`), `process ${pid} left behind`).toBe(false);
    expect(existsSync(stateDir)).toBe(false);
  }, 60_000);
});
