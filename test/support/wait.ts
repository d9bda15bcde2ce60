// Waiting in tests: one sleep and one poll-until for every suite (unit, netns, e2e, bench).

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface PollOptions {
  /** Named in the timeout error: "timed out waiting for <what>". */
  readonly what?: string;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Pause between probes; default 50 ms. */
  readonly intervalMs?: number;
}

/**
 * Probes until it returns a value other than undefined or false, and resolves with it. A probe
 * that throws counts as not yet; its last error is in the timeout message.
 */
export async function pollUntil<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? '' : `: ${last instanceof Error ? last.message : String(last)}`;
      throw new Error(`timed out waiting for ${opts.what ?? 'a condition'}${why}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

/** pollUntil with a short interval, for in-process conditions that settle in milliseconds. */
export const waitFor = <T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> =>
  pollUntil(probe, { what, timeoutMs, intervalMs: 10 });
