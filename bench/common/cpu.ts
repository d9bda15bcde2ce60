// CPU time and memory of processes, read from /proc (Linux), so children that are not Node
// (haproxy, iperf3) are measured the same way as Node helpers.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

/** USER_HZ, almost always 100 on Linux. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * User + system CPU seconds a process (all its threads) has used so far, from
 * /proc/<pid>/stat fields 14 and 15. Resolution is one clock tick (10 ms).
 */
export function cpuSecondsOfPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces and parentheses: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cpu: cannot parse /proc/${pid}/stat`);
  return (utime + stime) / clockTicksPerSecond();
}

/** CPU seconds of this process from process.cpuUsage() (microsecond resolution). */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Resident set size of a process in MiB (VmRSS of /proc/<pid>/status). */
export function rssMbOfPid(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`rss: no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/**
 * Measures the CPU seconds a set of processes spends between start() and stop(). 'self' stands
 * for this process. A process that exited in between counts up to its last reading.
 */
export class CpuMeter {
  private readonly startAt = new Map<number | 'self', number>();
  private readonly lastSeen = new Map<number | 'self', number>();

  constructor(private readonly pids: ReadonlyArray<number | 'self'>) {}

  private read(pid: number | 'self'): number | undefined {
    try {
      return pid === 'self' ? ownCpuSeconds() : cpuSecondsOfPid(pid);
    } catch {
      return undefined;
    }
  }

  start(): this {
    for (const pid of this.pids) {
      const v = this.read(pid);
      if (v === undefined) throw new Error(`cpu: process ${pid} is not running`);
      this.startAt.set(pid, v);
      this.lastSeen.set(pid, v);
    }
    return this;
  }

  /** Take a reading now (useful just before a process is expected to exit). */
  sample(): void {
    for (const pid of this.pids) {
      const v = this.read(pid);
      if (v !== undefined) this.lastSeen.set(pid, v);
    }
  }

  /** CPU seconds used since start(), per process and in total. */
  stop(): { total: number; perProcess: Map<number | 'self', number> } {
    this.sample();
    const perProcess = new Map<number | 'self', number>();
    let total = 0;
    for (const pid of this.pids) {
      const d = (this.lastSeen.get(pid) ?? 0) - (this.startAt.get(pid) ?? 0);
      perProcess.set(pid, d);
      total += d;
    }
    return { total, perProcess };
  }
}
