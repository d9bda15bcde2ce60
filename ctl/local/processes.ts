// Child processes of the local mesh: the controller, the agent and every pod's command (in
// its netns via `ip netns exec`). Each runs in its own process group (so a terminal Ctrl-C
// reaches only `local up`, which tears down in order) with its output in a log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAlive, type ProcessRecord } from './state.js';

export interface Started extends ProcessRecord {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

export interface StartOptions {
  role: string;
  pod?: string;
  cmd: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Called with each stdout line (the line still goes to the log file). */
  onStdoutLine?: (line: string) => void;
}

export function startProcess(o: StartOptions): Started {
  const log = createWriteStream(o.logFile, { flags: 'a' });
  const child = spawn(o.cmd, [...o.args], {
    env: o.env,
    cwd: o.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    if (!o.onStdoutLine) return;
    buffered += chunk.toString('utf8');
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      o.onStdoutLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      log.write(`spawn failed: ${err.message}\n`);
      resolve(-1);
    });
    child.once('exit', (code, signal) => {
      log.end(`exited ${code ?? signal}\n`);
      resolve(code);
    });
  });
  return {
    role: o.role,
    ...(o.pod ? { pod: o.pod } : {}),
    pid: child.pid ?? -1,
    cmdline: [o.cmd, ...o.args].join(' '),
    child,
    exited,
  };
}

async function cmdlineOf(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM to the process group, SIGKILL after `graceMs`. A pid whose command line no longer
 * matches the record (reused after a crash) is left alone. `ip netns exec` execs its command,
 * so the recorded pid is the command's; the record keeps the full `ip netns exec …` line, of
 * which the live process shows the tail.
 */
export async function stopProcess(p: ProcessRecord, graceMs = 5000): Promise<void> {
  if (p.pid <= 0 || !isAlive(p.pid)) return;
  const actual = await cmdlineOf(p.pid);
  if (actual !== undefined && !p.cmdline.endsWith(actual) && !actual.endsWith(p.cmdline)) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-p.pid, sig);
    } catch {
      try {
        process.kill(p.pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(p.pid) || (await cmdlineOf(p.pid)) === undefined) return;
    await sleep(50);
  }
  signal('SIGKILL');
  for (let i = 0; i < 40 && isAlive(p.pid); i++) await sleep(50);
}
