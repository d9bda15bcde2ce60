import { afterEach, describe, expect, it, vi } from 'vitest';
import { addonMallocTrim, startMallocTrim } from './malloc-trim.js';
import { netnsAddonStatus } from './native.js';

describe('startMallocTrim', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('trims once after activity stops, never while idle', () => {
    vi.useFakeTimers();
    let activity = 0;
    const trim = vi.fn(() => true);
    const t = startMallocTrim({ activity: () => activity, trim, intervalMs: 1000, maxDelayMs: 30_000 });
    vi.advanceTimersByTime(5000);
    expect(trim).not.toHaveBeenCalled(); // idle from the start
    activity = 5;
    vi.advanceTimersByTime(1000); // the change is seen
    expect(trim).not.toHaveBeenCalled();
    activity = 9;
    vi.advanceTimersByTime(1000); // still changing
    expect(trim).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000); // one quiet interval
    expect(trim).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000); // quiet: nothing more to give back
    expect(trim).toHaveBeenCalledTimes(1);
    expect(t.count).toBe(1);
    t.stop();
  });

  it('trims under activity that never pauses, at most every maxDelayMs', () => {
    vi.useFakeTimers();
    let activity = 0;
    const trim = vi.fn(() => true);
    const t = startMallocTrim({ activity: () => ++activity, trim, intervalMs: 1000, maxDelayMs: 5000 });
    vi.advanceTimersByTime(4000);
    expect(trim).not.toHaveBeenCalled();
    vi.advanceTimersByTime(12_000);
    expect(trim.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(trim.mock.calls.length).toBeLessThanOrEqual(3);
    t.stop();
    const calls = trim.mock.calls.length;
    vi.advanceTimersByTime(20_000);
    expect(trim).toHaveBeenCalledTimes(calls); // stopped
  });

  it.runIf(netnsAddonStatus().ok && addonMallocTrim() !== undefined)(
    'calls glibc malloc_trim through the addon',
    () => {
      const trim = addonMallocTrim()!;
      expect(typeof trim()).toBe('boolean');
    },
  );
});
