// Running `ambitctl local up` from e2e suites: the built CLI as a child process, as a user
// runs it, with the suite's own bridge, pod CIDR, netns prefix and port offset so suites can
// run side by side. `start` resolves on the `ready` line; `stop` is SIGTERM, then `local down`
// (a no-op when the teardown worked) for whatever a failed run left.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../ctl/local/paths.js';
import { clearStaleNetwork } from './stale-network.js';

// The checkout (also when this runs compiled, from dist/test/e2e: `npm run chaos`).
export const REPO = PACKAGE_ROOT;
export const CTL = path.join(REPO, 'dist', 'ctl', 'main.js');

export function sh(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr });
    });
  });
}

export interface LocalMeshOptions {
  readonly dir: string;
  readonly stateDir: string;
  readonly bridge: string;
  readonly cidr: string;
  readonly prefix: string;
  readonly portOffset: number;
  /** Extra environment for local up and what it starts (e.g. AMBIT_CERT_TTL_SECONDS). */
  readonly env?: NodeJS.ProcessEnv;
}

export class LocalMesh {
  private child: ChildProcess | undefined;
  private stderrText = '';

  constructor(readonly o: LocalMeshOptions) {}

  get stderr(): string {
    return this.stderrText;
  }

  async start(): Promise<void> {
    if (!existsSync(CTL)) throw new Error(`${CTL} is missing: run \`npm run build\` first`);
    await clearStaleNetwork(this.o.bridge, this.o.prefix);
    const up = spawn(
      process.execPath,
      [
        CTL,
        'local',
        'up',
        '-f',
        this.o.dir,
        '--state-dir',
        this.o.stateDir,
        '--bridge',
        this.o.bridge,
        '--pod-cidr',
        this.o.cidr,
        '--netns-prefix',
        this.o.prefix,
        '--port-offset',
        String(this.o.portOffset),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.o.env } },
    );
    this.child = up;
    up.stderr!.on('data', (c: Buffer) => {
      this.stderrText += c.toString();
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      up.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.split('\n').includes('ready')) resolve();
      });
      up.once('exit', (code) =>
        reject(new Error(`local up exited (${code}) before ready:\n${this.stderrText.slice(-4000)}`)),
      );
    });
  }

  /** As a closed terminal does: the pipes of local up's stdout and stderr are gone (a SIGHUP follows). */
  closeTerminal(): void {
    this.child?.stdout?.destroy();
    this.child?.stderr?.destroy();
  }

  /** SIGTERM and wait for the teardown; resolves with the exit code. */
  async stop(): Promise<number | null> {
    const up = this.child;
    if (!up) return null;
    if (up.exitCode === null) {
      const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
      up.kill('SIGTERM');
      return exited;
    }
    return up.exitCode;
  }

  /** After stop(): clean up whatever a failed run left. */
  async down(): Promise<void> {
    await sh(process.execPath, [CTL, 'local', 'down', '--state-dir', this.o.stateDir]);
  }
}
