// Gives native memory back to the kernel when traffic quiets down. The TLS and HTTP/2 buffers of
// a burst (OpenSSL records, nghttp2 frames, 16 MiB connection windows) are malloc'd outside V8;
// once freed, glibc keeps them resident unless they sit at the top of its heap, so a process
// that carried a load stays tens of MiB above its idle size. glibc's malloc_trim(0) (through a
// native addon: the agent's netns addon, or core/native for the other binaries) releases free
// pages anywhere in the heap. Before it, once the load is over, one full V8 collection frees the
// JS wrappers that still hold native buffers (external memory) and lets V8 release its own
// emptied pages; Node runs no such collection when a process idles.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MallocTrimOptions {
  /** A number that changes whenever connections open or close (a tracker's totals). */
  activity: () => number;
  /**
   * The trim itself (glibc malloc_trim through an addon). Undefined: no trimmer runs (not
   * Linux/glibc, or no addon built), as if the option did not exist.
   */
  trim: (() => boolean) | undefined;
  /** How often activity is looked at; a trim follows one quiet interval after a change. */
  intervalMs?: number;
  /** CPU milliseconds the process used so far (default process.cpuUsage()). */
  cpuMs?: () => number;
  /** An interval is quiet when the process used less CPU than this share of it (default 5%). */
  quietCpuShare?: number;
  /**
   * A busy interval counts as activity too (default false): a load carried on connections
   * that were already open (keep-alive) is then followed by a trim as well.
   */
  busyIsActivity?: boolean;
  /** The start counts as a load (module loading, config, keys): trim after the first quiet interval. */
  afterStart?: boolean;
  /** At least this long between two trims (each collection pauses the event loop); default 5 s. */
  minGapMs?: number;
  /** Under activity that never pauses, trim at least this often. */
  maxDelayMs?: number;
  /** A full collection before a trim when the load is over (not under uninterrupted activity). */
  collect?: () => void;
}

export interface MallocTrimmer {
  /** Trims done so far. */
  readonly count: number;
  stop(): void;
}

let gcFunction: (() => void) | undefined;

/** V8's full collection, without --expose-gc on the command line (the flag is set at run time). */
export function fullCollection(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Trim once there was activity (connections came or went) and then one quiet interval (no
 * change, and little CPU: bytes on open connections count as load too), or after `maxDelayMs`
 * of uninterrupted activity; never twice within `minGapMs`. Idle processes never trim; the
 * timer is unref'd (it keeps no process alive).
 */
export function startMallocTrim(o: MallocTrimOptions): MallocTrimmer {
  const trim = o.trim;
  const state = { count: 0 };
  if (!trim) return { count: 0, stop: () => undefined };
  const intervalMs = o.intervalMs ?? 1000;
  const maxDelayMs = o.maxDelayMs ?? 30_000;
  const minGapMs = o.minGapMs ?? 5000;
  const cpuMs = o.cpuMs ?? processCpuMs;
  const quietCpuMs = intervalMs * (o.quietCpuShare ?? 0.05);
  let last = o.activity();
  let lastCpu = cpuMs();
  let lastTrim = -Infinity;
  let dirtySince: number | undefined = o.afterStart === true ? Date.now() : undefined;
  const collect = o.collect ?? fullCollection;
  const doTrim = (quiet: boolean): void => {
    if (Date.now() - lastTrim < minGapMs) return;
    lastTrim = Date.now();
    dirtySince = undefined;
    state.count++;
    // A full collection pauses the event loop (~10-60 ms here): only when the load is over.
    if (quiet) collect();
    trim();
  };
  const timer = setInterval(() => {
    const now = o.activity();
    const cpu = cpuMs();
    const busy = cpu - lastCpu >= quietCpuMs;
    const changed = now !== last || (busy && o.busyIsActivity === true);
    last = now;
    lastCpu = cpu;
    if (changed) {
      dirtySince ??= Date.now();
      if (Date.now() - dirtySince >= maxDelayMs) doTrim(false);
      return;
    }
    if (dirtySince === undefined) return;
    if (!busy) doTrim(true);
    else if (Date.now() - dirtySince >= maxDelayMs) doTrim(false);
  }, intervalMs);
  timer.unref();
  return {
    get count() {
      return state.count;
    },
    stop: () => clearInterval(timer),
  };
}
