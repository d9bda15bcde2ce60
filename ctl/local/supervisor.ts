// What a kubelet does for the processes of `local up`: each unit (the controller, the agent, a
// waypoint replica, a pod's command) is restarted when it exits, following its restartPolicy
// (Always; OnFailure: only after a non-zero exit; Never), after a back-off that doubles from
// `initialMs` up to `maxMs` and starts again once a run lasted `resetAfterMs` (kubelet: 10 s,
// 5 min, 10 min; shorter here, a laptop mesh should heal within seconds). `restart` replaces a
// running unit: `surge` starts the new process and waits for it to be ready before stopping
// the old one (the agent's socket handoff, a waypoint rollout), otherwise stop, then start.
// The record's process list follows every change, so `local down` finds what runs.
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { stopProcess, type Started } from './processes.js';
import type { ProcessRecord } from './state.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface UnitSpec {
  /** `controller`, `agent`, `waypoint/<ns>/<pod>`, `pod/<ns>/<pod>`. */
  readonly name: string;
  readonly policy: RestartPolicy;
  /** Starts one process of the unit. */
  readonly start: () => Started;
  /** Resolves once a new process serves (default: at once); rejects if it never will. */
  readonly ready?: (s: Started) => Promise<void>;
  /** SIGTERM → SIGKILL grace when the unit is stopped. */
  readonly graceMs?: number;
}

export type UnitState = 'running' | 'backoff' | 'exited' | 'stopped';

export interface UnitStatus {
  readonly name: string;
  readonly role: string;
  readonly pod?: string;
  readonly pid: number;
  readonly state: UnitState;
  readonly restarts: number;
  readonly policy: RestartPolicy;
  readonly lastExit?: { code: number | null; at: string };
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };

interface Unit {
  spec: UnitSpec;
  current: Started | undefined;
  state: UnitState;
  restarts: number;
  delayMs: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
  lastExit?: { code: number | null; at: string };
  /** A restart() in progress: the exit of the process it replaces is not a crash. */
  replacing?: Started;
}

/** Whether a unit whose process exited with `code` is started again. */
export function shouldRestart(policy: RestartPolicy, code: number | null): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && code !== 0);
}

/** The next back-off after a run of `ranMs`. */
export function nextDelay(previousMs: number, ranMs: number, o: BackoffOptions): number {
  if (ranMs >= o.resetAfterMs || previousMs <= 0) return o.initialMs;
  return Math.min(o.maxMs, previousMs * 2);
}

export class Supervisor {
  private readonly units = new Map<string, Unit>();
  private stopping = false;

  constructor(
    private readonly o: {
      log: Logger;
      /** The record's process list, kept in step. */
      processes: ProcessRecord[];
      /** Called after every change of the process list (write the record). */
      onChange: () => void;
      backoff?: BackoffOptions;
      /** Told of every exit nobody asked for (before the restart policy applies). */
      onCrash?: (unit: string, code: number | null) => void;
    },
  ) {}

  private get backoff(): BackoffOptions {
    return this.o.backoff ?? DEFAULT_BACKOFF;
  }

  /** Starts a unit and keeps it running per its policy. */
  add(spec: UnitSpec): Started {
    if (this.units.has(spec.name)) throw new Error(`unit ${spec.name} exists`);
    const unit: Unit = { spec, current: undefined, state: 'stopped', restarts: 0, delayMs: 0, startedAt: Date.now() };
    this.units.set(spec.name, unit);
    return this.launch(unit);
  }

  has(name: string): boolean {
    return this.units.has(name);
  }

  private launch(unit: Unit): Started {
    const s = unit.spec.start();
    unit.current = s;
    unit.state = 'running';
    unit.startedAt = Date.now();
    this.o.processes.push({ role: s.role, pid: s.pid, cmdline: s.cmdline, ...(s.pod ? { pod: s.pod } : {}) });
    this.o.onChange();
    void s.exited.then((code) => this.exited(unit, s, code));
    return s;
  }

  private forget(s: Started): void {
    const i = this.o.processes.findIndex((p) => p.pid === s.pid);
    if (i >= 0) this.o.processes.splice(i, 1);
    this.o.onChange();
  }

  private exited(unit: Unit, s: Started, code: number | null): void {
    if (this.stopping) return;
    this.forget(s);
    if (unit.replacing === s || unit.current !== s) return; // replaced on purpose
    unit.lastExit = { code, at: new Date().toISOString() };
    unit.current = undefined;
    this.o.onCrash?.(unit.spec.name, code);
    if (!shouldRestart(unit.spec.policy, code)) {
      unit.state = 'exited';
      this.o.log.warn('process exited; not restarted (restartPolicy)', {
        unit: unit.spec.name,
        code,
        policy: unit.spec.policy,
      });
      return;
    }
    unit.delayMs = nextDelay(unit.delayMs, Date.now() - unit.startedAt, this.backoff);
    unit.state = 'backoff';
    this.o.log.warn('process exited; restarting after back-off', {
      unit: unit.spec.name,
      code,
      backoffMs: unit.delayMs,
      restarts: unit.restarts + 1,
    });
    unit.timer = setTimeout(() => {
      unit.timer = undefined;
      if (this.stopping || unit.state !== 'backoff') return;
      unit.restarts++;
      try {
        this.launch(unit);
      } catch (err) {
        this.o.log.error('restart failed', { unit: unit.spec.name, err: describeError(err) });
      }
    }, unit.delayMs);
  }

  /**
   * Replaces the unit's process. `surge`: the new one first, ready, then the old one stopped
   * (no moment without a process); else stop, then start. Resolves once the new one is ready.
   */
  async restart(name: string, opts: { surge?: boolean } = {}): Promise<UnitStatus> {
    const unit = this.unit(name);
    if (unit.timer) {
      clearTimeout(unit.timer);
      unit.timer = undefined;
    }
    const old = unit.current;
    unit.replacing = old;
    try {
      if (old && !opts.surge) await stopProcess(old, unit.spec.graceMs ?? 5000);
      const fresh = this.launch(unit);
      unit.restarts++;
      try {
        await (unit.spec.ready?.(fresh) ?? Promise.resolve());
      } catch (err) {
        // The new process never became ready: the old one (surge) keeps serving.
        if (old && opts.surge && old.child.exitCode === null) {
          unit.current = old;
          await stopProcess(fresh, unit.spec.graceMs ?? 5000);
        }
        throw err;
      }
      if (old && opts.surge) await stopProcess(old, unit.spec.graceMs ?? 5000);
    } finally {
      unit.replacing = undefined;
    }
    return this.status(unit);
  }

  /** Stops the unit's process and holds it stopped (no restart) until `resume`. */
  async pause(name: string): Promise<UnitStatus> {
    const unit = this.unit(name);
    if (unit.timer) {
      clearTimeout(unit.timer);
      unit.timer = undefined;
    }
    const old = unit.current;
    unit.state = 'stopped';
    unit.current = undefined;
    if (old) {
      unit.replacing = old;
      try {
        await stopProcess(old, unit.spec.graceMs ?? 5000);
      } finally {
        unit.replacing = undefined;
      }
    }
    return this.status(unit);
  }

  /** Starts a paused (or exited) unit again; resolves once it is ready. */
  async resume(name: string): Promise<UnitStatus> {
    const unit = this.unit(name);
    if (unit.state === 'running') return this.status(unit);
    if (unit.timer) {
      clearTimeout(unit.timer);
      unit.timer = undefined;
    }
    const fresh = this.launch(unit);
    unit.restarts++;
    await (unit.spec.ready?.(fresh) ?? Promise.resolve());
    return this.status(unit);
  }

  /** Stops the unit's process and forgets the unit (a deleted pod). */
  async remove(name: string): Promise<void> {
    await this.pause(name);
    this.units.delete(name);
  }

  private unit(name: string): Unit {
    const unit = this.units.get(name);
    if (!unit) throw new Error(`no unit ${name}; units: ${[...this.units.keys()].join(', ')}`);
    return unit;
  }

  /** From now on no exit is restarted (teardown). */
  stop(): void {
    this.stopping = true;
    for (const u of this.units.values())
      if (u.timer) {
        clearTimeout(u.timer);
        u.timer = undefined;
      }
  }

  private status(u: Unit): UnitStatus {
    const s = u.current;
    return {
      name: u.spec.name,
      role: s?.role ?? u.spec.name.split('/')[0]!,
      ...(s?.pod ? { pod: s.pod } : {}),
      pid: s?.pid ?? -1,
      state: u.state,
      restarts: u.restarts,
      policy: u.spec.policy,
      ...(u.lastExit ? { lastExit: u.lastExit } : {}),
    };
  }

  list(): UnitStatus[] {
    return [...this.units.values()].map((u) => this.status(u));
  }
}
