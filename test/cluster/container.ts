// One running container: `ip netns exec <netns> unshare -m … chroot <root> <command>` in its
// own process group, stdout+stderr in a log file and a short in-memory tail (failure messages
// quote it), restarted with a capped backoff when it exits (restartPolicy Always), as the
// kubelet does; `restarts` and `exits` tell a test whether it stayed up.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { buildRootfs, launchScript, type Mount } from './rootfs.js';

export interface ContainerSpec {
  /** `namespace/pod/container`, for messages. */
  readonly id: string;
  readonly netns: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly Mount[];
  readonly workdir: string;
  readonly uid: number;
  readonly gid: number;
  readonly readOnlyRoot: boolean;
  /** The container's capabilities (securityContext; the runtime's default set otherwise). */
  readonly capabilities?: readonly string[];
  readonly noNewPrivs?: boolean;
  /** Folder for the root skeleton and the log. */
  readonly dir: string;
}

export class Container {
  private child: ChildProcess | undefined;
  private readonly tailLines: string[] = [];
  private log: WriteStream | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  restarts = 0;
  /** What it printed up to its first unexpected exit (why it failed). */
  firstExit: string | undefined;
  readonly exits: Array<{ code: number | null; signal: string | null; at: number }> = [];
  private script = '';

  constructor(readonly spec: ContainerSpec) {}

  get logFile(): string {
    return path.join(this.spec.dir, 'log');
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines it printed (stdout and stderr). */
  tail(n = 15): string {
    return this.tailLines.slice(-n).join('\n');
  }

  async start(): Promise<void> {
    const mounts = await buildRootfs(path.join(this.spec.dir, 'root'), {
      mounts: this.spec.mounts,
      readOnlyRoot: this.spec.readOnlyRoot,
    });
    this.script = launchScript(path.join(this.spec.dir, 'root'), mounts, {
      readOnlyRoot: this.spec.readOnlyRoot,
      workdir: this.spec.workdir,
      ...(this.spec.capabilities ? { capabilities: this.spec.capabilities } : {}),
      ...(this.spec.noNewPrivs ? { noNewPrivs: true } : {}),
      ...(this.spec.uid !== 0 ? { uid: this.spec.uid, gid: this.spec.gid } : {}),
    });
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    this.spawn();
  }

  private spawn(): void {
    if (this.stopped) return;
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.spec.netns,
        'unshare',
        '-m',
        '--propagation',
        'slave',
        '/bin/sh',
        '-c',
        this.script,
        'sh',
        ...this.spec.command,
      ],
      {
        env: { ...this.spec.env },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    let partial = '';
    const onData = (chunk: Buffer): void => {
      this.log?.write(chunk);
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        this.tailLines.push(l);
        if (this.tailLines.length > 200) this.tailLines.shift();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code, signal) => {
      this.exits.push({ code, signal, at: Date.now() });
      if (this.stopped) return;
      this.firstExit ??= this.tail(40);
      this.tailLines.push(`[kubelet] ${this.spec.id} exited (code ${code}, signal ${signal}); restarting`);
      // CrashLoopBackOff, capped low for a test.
      const delay = Math.min(500 * 2 ** this.restarts, 4000);
      this.restarts++;
      this.timer = setTimeout(() => this.spawn(), delay);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs` (terminationGracePeriodSeconds, shortened). */
  async stop(graceMs = 3000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null && child.pid) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      await gone;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => (this.log ? this.log.end(() => resolve()) : resolve()));
  }
}
