// Runs a command inside a network namespace given its path, with nsenter (util-linux).
// The plugin is a short-lived process, so child processes are fine here (not in the agent).
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { AmbitError } from '../../core/errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

const TIMEOUT_MS = 20_000;
// Runtimes call plugins with a minimal environment; iptables and ip live in sbin.
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const childEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH: process.env.PATH ? `${process.env.PATH}:${SYSTEM_PATH}` : SYSTEM_PATH,
});

/** Run `cmd args…` in the netns at `netnsPath`; resolves with the exit code (never rejects on a non-zero exit). */
export function runInNetns(
  netnsPath: string,
  cmd: string,
  args: readonly string[],
  stdin?: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'nsenter',
      [`--net=${netnsPath}`, '--', cmd, ...args],
      { timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, env: childEnv() },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        if (err && code === -1 && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new AmbitError('AMBIT_E_NETNS', 'nsenter not found', {
              hint: 'install util-linux on the node',
              cause: err,
            }),
          );
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
    child.stdin?.on('error', () => undefined); // the child may exit before reading stdin
    child.stdin?.end(stdin ?? '');
  });
}

/** Run and require exit 0; the error names the command and its stderr. */
export async function mustRunInNetns(
  netnsPath: string,
  cmd: string,
  args: readonly string[],
  stdin?: string,
): Promise<string> {
  const r = await runInNetns(netnsPath, cmd, args, stdin);
  if (r.code !== 0) {
    throw new AmbitError(
      'AMBIT_E_NETNS',
      `${cmd} ${args.join(' ')} failed in ${netnsPath} (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** Does a network namespace exist at this path? (a bind-mounted nsfs file or /proc/<pid>/ns/net) */
export async function netnsExists(netnsPath: string): Promise<boolean> {
  if (!netnsPath) return false;
  const st = await stat(netnsPath).catch(() => undefined);
  if (!st) return false;
  // A path under /var/run/netns whose namespace was unmounted is a plain empty file: nsenter
  // is the authoritative test.
  const r = await runInNetns(netnsPath, 'true', []).catch(() => undefined);
  return r !== undefined && r.code === 0;
}
