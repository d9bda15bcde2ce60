import { describeError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * How each binary (agent, waypoint, controller) is run: built from its settings, started,
 * and on SIGTERM/SIGINT drained then stopped.
 * - start: open everything and begin serving; resolves once it serves.
 * - ready: whether it should receive work now (the readiness probe).
 * - drain: stop accepting new work and let in-flight work finish within `deadlineMs`
 *   (each component's own default when absent).
 * - stop: release everything that is left; safe to call more than once.
 */
export interface ComponentRuntime {
  start(): Promise<void>;
  ready(): boolean;
  drain(deadlineMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface SignalOptions {
  /** Logged with `{ signal }` when the first signal arrives. */
  stoppingMessage?: string;
  /** Logged with `{ err }` when drain or stop throws. */
  failedMessage?: string;
  /** The exit code when drain or stop throws (0 after a clean stop). */
  failedExitCode?: number;
  /** For tests: where signals come from and how the process exits. */
  host?: { on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown; exit(code: number): void };
}

/**
 * On the first SIGTERM or SIGINT: drain, then stop, then exit. Later signals are ignored
 * (the drain already runs). Returns the promise of the handling for tests.
 */
export function runUntilSignalled(
  runtime: Pick<ComponentRuntime, 'drain' | 'stop'>,
  log: Logger,
  opts: SignalOptions = {},
): { stopped: Promise<void> } {
  const host = opts.host ?? process;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping = false;
  const onSignal = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(opts.stoppingMessage ?? 'shutting down', { signal });
    let code = 0;
    try {
      await runtime.drain();
      await runtime.stop();
    } catch (err) {
      log.error(opts.failedMessage ?? 'shutdown failed', { err: describeError(err) });
      code = opts.failedExitCode ?? 1;
    }
    resolveStopped();
    host.exit(code);
  };
  host.on('SIGTERM', () => void onSignal('SIGTERM'));
  host.on('SIGINT', () => void onSignal('SIGINT'));
  return { stopped };
}
