// Small helpers for the agent's netns tests (H3): namespaces, veth pairs, commands inside a
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
  try { sh(cmd, args); } catch { /* already gone */ }
}

export function netnsPath(ns: string): string { return `/run/netns/${ns}`; }

export function addNetns(ns: string): void {
  tryRun('ip', ['netns', 'del', ns]);
  sh('ip', ['netns', 'add', ns]);
  inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
}

export function delNetns(ns: string): void { tryRun('ip', ['netns', 'del', ns]); }

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
    socket.on('data', (chunk: string) => { data += chunk; });
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
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before printing ${pattern}: ${buf.slice(-500)}`)));
  });
}

export { spawn };
