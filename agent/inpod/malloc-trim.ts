// Gives native memory back to the kernel when traffic quiets down. The TLS and HTTP/2 buffers of
// a burst (OpenSSL records, nghttp2 frames, 16 MiB connection windows) are malloc'd outside V8;
// once freed, glibc keeps them resident unless they sit at the top of its heap, so an agent
// that carried a load stayed ~35 MiB above its idle size. The addon's mallocTrim (glibc
// malloc_trim(0)) releases free pages anywhere in the heap.
import { netnsAddon } from './native.js';

export interface MallocTrimOptions {
  /** A number that changes whenever connections open or close (the tracker's totals). */
  activity: () => number;
  /** How often activity is looked at; a trim follows one quiet interval after a change. */
  intervalMs?: number;
  /** Under activity that never pauses, trim at least this often. */
  maxDelayMs?: number;
  /** The trim itself; default the addon's (false when the build has none, as before it existed). */
  trim?: () => boolean;
}

export interface MallocTrimmer {
  /** Trims done so far. */
  readonly count: number;
  stop(): void;
}

/** The addon's malloc_trim, or undefined (not Linux/glibc, or an addon built before it). */
export function addonMallocTrim(): (() => boolean) | undefined {
  try {
    const addon = netnsAddon() as ReturnType<typeof netnsAddon> & { mallocTrim?: () => boolean };
    return typeof addon.mallocTrim === 'function' ? () => addon.mallocTrim!() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Trim once the activity count has changed and then stayed the same for one interval (the load
 * ended), or after `maxDelayMs` of uninterrupted activity. Idle agents never trim; the timer is
 * unref'd (it keeps no process alive).
 */
export function startMallocTrim(o: MallocTrimOptions): MallocTrimmer {
  const trim = o.trim ?? addonMallocTrim();
  const state = { count: 0 };
  if (!trim) return { count: 0, stop: () => undefined };
  const intervalMs = o.intervalMs ?? 1000;
  const maxDelayMs = o.maxDelayMs ?? 30_000;
  let last = o.activity();
  let dirtySince: number | undefined;
  const doTrim = (): void => {
    dirtySince = undefined;
    state.count++;
    trim();
  };
  const timer = setInterval(() => {
    const now = o.activity();
    const changed = now !== last;
    last = now;
    if (changed) {
      dirtySince ??= Date.now();
      if (Date.now() - dirtySince >= maxDelayMs) doTrim();
      return;
    }
    if (dirtySince !== undefined) doTrim();
  }, intervalMs);
  timer.unref();
  return {
    get count() {
      return state.count;
    },
    stop: () => clearInterval(timer),
  };
}
