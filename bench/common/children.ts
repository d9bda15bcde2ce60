// Starting helper processes for a benchmark and making sure they all stop: each child is
// killed when the group stops, when this process exits, or on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface StartOptions {
  /** Label for errors. */
  readonly name: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * When set, start() resolves once a stdout line matches (and returns the match's first line);
   * otherwise start() resolves once the process has spawned.
   */
  readonly readyLine?: RegExp;
  readonly readyTimeoutMs?: number;
  /** 'pipe' to write commands to the child (child.process.stdin); default 'ignore'. */
  readonly stdin?: 'ignore' | 'pipe';
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** The stdout line that matched readyLine (empty if none was asked for). */
  readonly readyMessage: string;
  /** Unconsumed stdout lines (bounded to the last 1000). */
  readonly lines: string[];
  /** The last 50 stderr lines. */
  readonly stderr: string[];
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Next stdout line matching `re`, waiting at most `timeoutMs`. */
  nextLine(re: RegExp, timeoutMs?: number): Promise<string>;
}

export class ChildGroup {
  private readonly children = new Set<Child>();
  private readonly onExit = (): void => this.killAllSync();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.killAllSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  constructor() {
    process.on('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  async start(command: string, args: readonly string[], opts: StartOptions): Promise<Child> {
    const proc = spawn(command, args, {
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    const lines: string[] = [];
    const stderr: string[] = [];
    const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 1000) lines.shift();
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > 50) stderr.shift();
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${opts.name}] ${line}\n`);
    });
    const exited = new Promise<number | string>((resolve) => {
      proc.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', () => resolve());
      proc.once('error', (err) => reject(new Error(`${opts.name}: cannot start ${command}: ${err.message}`)));
    });
    const nextLine = (re: RegExp, timeoutMs = 10_000): Promise<string> => {
      const seen = lines.find((l) => re.test(l));
      if (seen) {
        lines.splice(lines.indexOf(seen), 1);
        return Promise.resolve(seen);
      }
      return new Promise<string>((resolve, reject) => {
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(timer);
            lines.splice(lines.indexOf(l), 1);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(
              `${opts.name}: no line matching ${re} within ${timeoutMs} ms; stderr: ${stderr.slice(-5).join(' | ')}`,
            ),
          );
        }, timeoutMs);
        waiters.push(w);
        void exited.then((code) => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            reject(
              new Error(
                `${opts.name}: exited (${code}) before printing ${re}; stderr: ${stderr.slice(-5).join(' | ')}`,
              ),
            );
          }
        });
      });
    };
    const child: Child = {
      name: opts.name,
      pid: proc.pid!,
      process: proc,
      readyMessage: '',
      lines,
      stderr,
      exited,
      nextLine,
    };
    this.children.add(child);
    void exited.then(() => this.children.delete(child));
    if (!opts.readyLine) return child;
    try {
      const ready = await nextLine(opts.readyLine, opts.readyTimeoutMs ?? 15_000);
      return { ...child, readyMessage: ready };
    } catch (err) {
      await this.stop(child);
      throw err;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
  async stop(child: Child, graceMs = 2000): Promise<void> {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return;
    child.process.kill('SIGTERM');
    const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
    await child.exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
  }

  private killAllSync(): void {
    for (const c of this.children) {
      if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
    }
  }

  /** Stop every child and remove the exit hooks. */
  async close(): Promise<void> {
    await this.stopAll();
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
