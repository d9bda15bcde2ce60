// `local up` without root: the whole local mesh runs inside an unprivileged user + network +
// mount namespace (as `unshare --user --map-root-user --net --mount` makes it), where the
// user is root enough for netns, bridges and iptables. Inside, /run/netns and /etc/netns get
// private tmpfs mounts (so nothing is written to the real ones) and loopback is brought up.
// The node-level ports (agent admin/metrics/ready/SOCKS5, controller, waypoints) are forwarded to the
// user's 127.0.0.1: the inner `local up` serves each on a Unix socket in the state dir (a
// filesystem path crosses network namespaces) and this outer process listens on
// 127.0.0.1:<port> and pipes each connection to it. `local exec/apply/down` from outside
// enter the namespaces with nsenter.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { AmbitError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { relay } from '../../core/net/relay.js';
import type { LocalPorts } from './state.js';

export const USERNS_ENV = 'AMBIT_LOCAL_USERNS';

export function insideUserNamespace(): boolean {
  return process.env[USERNS_ENV] === '1';
}

export function needsUserNamespace(): boolean {
  return process.platform === 'linux' && process.getuid?.() !== 0 && !insideUserNamespace();
}

/** Probes `unshare`; throws a clear error naming what is needed when it cannot work. */
export function checkUserNamespaces(): void {
  const probe = spawnSync('unshare', ['--user', '--map-root-user', '--net', '--mount', 'true'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? `unshare: ${probe.error.message}` : probe.stderr.trim();
    throw new AmbitError(
      'AMBIT_E_NETNS',
      `local up without root needs unprivileged user namespaces, which are not available here (${why})`,
      {
        hint: 'enable them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0; on Ubuntu 24.04+ also kernel.apparmor_restrict_unprivileged_userns=0), or run with sudo',
      },
    );
  }
}

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });

/** Inside the namespaces: private /run/netns and /etc/netns, loopback up. */
export function prepareUserNamespace(stateDir: string, log: Logger): void {
  const mount = (target: string) => {
    const r = run('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'ambit-local', target]);
    if (r.status !== 0) throw new AmbitError('AMBIT_E_NETNS', `mount tmpfs on ${target}: ${r.stderr.trim()}`);
  };
  if (existsSync('/run/netns')) mount('/run/netns');
  else {
    mount('/run');
    run('mkdir', ['-p', '/run/netns']);
  }
  if (existsSync('/etc/netns')) mount('/etc/netns');
  else {
    // No /etc/netns to mount on (and the real /etc is not writable): a private overlay of /etc
    // (upper layer on a tmpfs) gets one, so `ip netns exec` finds the pods' hosts files.
    const scratch = etcScratchDir(stateDir);
    mkdirSync(scratch, { recursive: true });
    mount(scratch);
    mkdirSync(path.join(scratch, 'upper'));
    mkdirSync(path.join(scratch, 'work'));
    const ov = run('mount', [
      '-t',
      'overlay',
      'ambit-local-etc',
      '-o',
      `lowerdir=/etc,upperdir=${scratch}/upper,workdir=${scratch}/work`,
      '/etc',
    ]);
    if (ov.status === 0) mkdirSync('/etc/netns');
    else
      log.warn(
        '/etc/netns does not exist and /etc cannot be overlaid: Service names will not resolve inside pods (use VIPs, see `ambitctl proxy-config services`)',
        { err: ov.stderr.trim(), hint: 'sudo mkdir /etc/netns once' },
      );
  }
  const lo = run('ip', ['link', 'set', 'lo', 'up']);
  if (lo.status !== 0) throw new AmbitError('AMBIT_E_NETNS', `ip link set lo up: ${lo.stderr.trim()}`);
}

/** Mount point of the /etc overlay's tmpfs (a sibling of the state dir; the outer process removes it). */
export function etcScratchDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}.etc-overlay`;
}

export function nodePorts(p: LocalPorts): number[] {
  return [
    p.agentAdmin,
    p.agentMetrics,
    p.agentReady,
    p.agentSocks5,
    p.controllerGrpc,
    p.controllerMetrics,
    p.controllerReady,
  ];
}

const relaySocket = (dir: string, port: number) => path.join(dir, `${port}.sock`);

/** Inside: each node port served on <dir>/<port>.sock too. */
export async function serveRelaySockets(dir: string, ports: readonly number[]): Promise<net.Server[]> {
  await mkdir(dir, { recursive: true });
  const servers: net.Server[] = [];
  for (const port of ports) {
    const file = relaySocket(dir, port);
    await rm(file, { force: true });
    const server = net.createServer({ allowHalfOpen: true }, (c) => {
      void relay(c, net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, resolve);
    });
    servers.push(server);
  }
  return servers;
}

/** Outside: 127.0.0.1:<port> → <dir>/<port>.sock. A port already taken is skipped with a warning. */
export async function forwardPorts(dir: string, ports: readonly number[], log: Logger): Promise<net.Server[]> {
  const servers: net.Server[] = [];
  for (const port of ports) {
    const server = net.createServer({ allowHalfOpen: true }, (c) => {
      void relay(c, net.connect({ path: relaySocket(dir, port), allowHalfOpen: true }));
    });
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', (err) => {
        log.warn('cannot forward a node port to 127.0.0.1', { port, err: err.message });
        resolve(false);
      });
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) servers.push(server);
  }
  return servers;
}

/** Outside: run this same `ambitctl` invocation inside fresh namespaces; resolves with its exit code. */
export async function runUpInUserNamespace(
  argv: readonly string[],
  stateDir: string,
  ports: LocalPorts,
  log: Logger,
  extraPorts: readonly number[] = [],
): Promise<number> {
  checkUserNamespaces();
  const relayDir = path.join(stateDir, 'relay');
  const forwarded = [...nodePorts(ports), ...extraPorts];
  log.info('not root: running the local mesh in a user + network + mount namespace', { forwarded });
  const child = spawn('unshare', ['--user', '--map-root-user', '--net', '--mount', '--', process.execPath, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [USERNS_ENV]: '1' },
  });
  const servers = await forwardPorts(relayDir, forwarded, log);
  // The terminal's Ctrl-C reaches both processes; SIGTERM (a supervisor, a test) is passed on.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const code = await new Promise<number>((resolve) => {
    child.on('error', (err) => {
      log.error('unshare failed', { err: err.message });
      resolve(1);
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
  for (const s of servers) s.close();
  rmSync(etcScratchDir(stateDir), { recursive: true, force: true });
  return code;
}

/** Outside, for exec/apply/down: the argv prefix that enters the running mesh's namespaces. */
export function nsenterPrefix(pid: number): string[] {
  return ['nsenter', '-t', String(pid), '--user', '--mount', '--net', '--preserve-credentials', '--'];
}
