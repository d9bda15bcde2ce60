// Small helpers for the agent's netns tests: namespaces, veth pairs, commands inside a
// namespace. Test code only (the agent itself never runs synchronous child processes).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNs(ns: string, cmd: string, args: readonly string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export function tryRun(cmd: string, args: readonly string[]): void {
  try {
    sh(cmd, args);
  } catch {
    /* already gone */
  }
}

export function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

export function addNetns(ns: string): void {
  tryRun('ip', ['netns', 'del', ns]);
  sh('ip', ['netns', 'add', ns]);
  inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
}

export function delNetns(ns: string): void {
  tryRun('ip', ['netns', 'del', ns]);
}

/** A veth pair between two namespaces with one /24: a gets `${prefix}.1`, b gets `${prefix}.2`. */
export function vethPair(a: string, b: string, prefix: string, name: string): { ipA: string; ipB: string } {
  const ipA = `${prefix}.1`;
  const ipB = `${prefix}.2`;
  sh('ip', ['link', 'add', `${name}a`, 'netns', a, 'type', 'veth', 'peer', `${name}b`, 'netns', b]);
  inNs(a, 'ip', ['addr', 'add', `${ipA}/24`, 'dev', `${name}a`]);
  inNs(b, 'ip', ['addr', 'add', `${ipB}/24`, 'dev', `${name}b`]);
  inNs(a, 'ip', ['link', 'set', `${name}a`, 'up']);
  inNs(b, 'ip', ['link', 'set', `${name}b`, 'up']);
  return { ipA, ipB };
}

/** iptables inside a namespace; `rule` is split on spaces. */
export function ipt(ns: string, rule: string): void {
  inNs(ns, 'iptables', ['-w', ...rule.split(' ')]);
}

/** Collect everything a socket sends until it ends. */
export function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

/** Resolves once the child prints a line matching `pattern` on stdout. */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const line = buf.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        child.stdout?.off('data', onData);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`process exited (${code}) before printing ${pattern}: ${buf.slice(-500)}`)),
    );
  });
}

export { spawn };

// ---- running the agent as its own process (bundled with esbuild, like a deployed binary) ----
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pollUntil } from './wait.js';
import { REPO_ROOT as REPO } from './repo.js';
import { bundleMain } from './bundle.js';
export const ADDON_PATH = path.join(REPO, 'agent', 'native', 'build', 'Release', 'ambit_netns.node');

/** The agent's bundle, as deployed (test/support/bundle.ts). */
export const bundleAgent = (): Promise<string> => bundleMain('agent/main.ts', 'agent');

/**
 * The env of an agent a suite starts on one node: its state dir and enrolment socket under
 * `dir` (`agentSocket(dir)` is what the CNI chain asks), plus the suite's own settings.
 */
export function nodeAgentEnv(dir: string, node: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AMBIT_STATE_DIR: path.join(dir, 'state'),
    AMBIT_AGENT_SOCKET: agentSocket(dir),
    AMBIT_NODE_NAME: node,
    ...extra,
  };
}

export const agentSocket = (dir: string): string => path.join(dir, 'agent.sock');

export async function tempDir(tag: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `ambit-netns-${tag}-`));
}

/** A free TCP port on 127.0.0.1 (bound then released). */
import { freePort } from './net.js';

export { freePort };

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly adminPort: number;
  readonly metricsPort: number;
  /** Everything the agent logged (JSON lines on stderr). */
  logs(): string[];
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** SIGTERM (drain) and wait for exit. */
  stop(): Promise<number | null>;
}

/**
 * Start the agent on free ports. A port is free when picked and taken when the agent binds it,
 * so on a busy machine another process can take it in between: the start is tried again, on
 * fresh ports, when the agent exits on EADDRINUSE.
 */
export async function startAgent(bundle: string, env: Record<string, string>): Promise<AgentProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAgentOnce(bundle, env);
    } catch (err) {
      if (attempt >= 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startAgentOnce(bundle: string, env: Record<string, string>): Promise<AgentProcess> {
  const [adminPort, metricsPort, readyPort, socksPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const child = spawn(process.execPath, [bundle], {
    cwd: REPO,
    env: {
      ...process.env,
      AMBIT_NATIVE_ADDON: ADDON_PATH,
      AMBIT_ADMIN_PORT: String(adminPort),
      AMBIT_METRICS_PORT: String(metricsPort),
      AMBIT_READY_PORT: String(readyPort),
      AMBIT_SOCKS5_PORT: String(socksPort),
      AMBIT_PUBLIC_HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stderr?.on('data', (d: Buffer) => {
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitForLine(child, /^ready /);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nagent log:\n${lines.slice(-20).join('\n')}`, { cause: err });
  }
  return {
    child,
    adminPort,
    metricsPort,
    logs: () => [...lines, ...(partial ? [partial] : [])],
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function httpGet(port: number, pathName: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${pathName}`);
  return res.text();
}

/** Poll `fn` until it returns a value that is not undefined (throws after `tries` × 100 ms). */
export const eventually = <T>(
  fn: () => Promise<T | undefined> | T | undefined,
  what: string,
  tries = 100,
): Promise<T> => pollUntil(fn, { what, timeoutMs: tries * 100, intervalMs: 100 });
