import { afterEach, describe, expect, it, vi } from 'vitest';
import { addonMallocTrim, fullCollection, startMallocTrim } from './malloc-trim.js';
import { netnsAddonStatus } from './native.js';

describe('startMallocTrim', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('trims once after activity stops, never while idle', () => {
    vi.useFakeTimers();
    let activity = 0;
    const trim = vi.fn(() => true);
    const collect = vi.fn();
    const t = startMallocTrim({
      activity: () => activity,
      cpuMs: () => 0,
      trim,
      collect,
      intervalMs: 1000,
      maxDelayMs: 30_000,
      minGapMs: 0,
    });
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
    expect(collect).toHaveBeenCalledTimes(1); // the load is over: a full collection first
    vi.advanceTimersByTime(10_000); // quiet: nothing more to give back
    expect(trim).toHaveBeenCalledTimes(1);
    expect(t.count).toBe(1);
    t.stop();
  });

  it('trims under activity that never pauses, at most every maxDelayMs', () => {
    vi.useFakeTimers();
    let activity = 0;
    const trim = vi.fn(() => true);
    const collect = vi.fn();
    const t = startMallocTrim({
      activity: () => ++activity,
      cpuMs: () => 0,
      trim,
      collect,
      intervalMs: 1000,
      maxDelayMs: 5000,
      minGapMs: 0,
    });
    vi.advanceTimersByTime(4000);
    expect(trim).not.toHaveBeenCalled();
    vi.advanceTimersByTime(12_000);
    expect(trim.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(trim.mock.calls.length).toBeLessThanOrEqual(3);
    expect(collect).not.toHaveBeenCalled(); // no pause while the traffic goes on
    t.stop();
    const calls = trim.mock.calls.length;
    vi.advanceTimersByTime(20_000);
    expect(trim).toHaveBeenCalledTimes(calls); // stopped
  });

  it('waits while bytes still flow (CPU busy without new connections), and keeps a gap between trims', () => {
    vi.useFakeTimers();
    let activity = 0;
    let cpu = 0;
    const trim = vi.fn(() => true);
    const t = startMallocTrim({
      activity: () => activity,
      cpuMs: () => cpu,
      trim,
      collect: () => undefined,
      intervalMs: 1000,
      maxDelayMs: 60_000,
      minGapMs: 5000,
    });
    activity = 32; // keep-alive connections opened, then only bytes
    for (let i = 0; i < 10; i++) {
      cpu += 500; // half a core each second
      vi.advanceTimersByTime(1000);
    }
    expect(trim).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000); // the load is over
    expect(trim).toHaveBeenCalledTimes(1);
    activity = 64; // a short burst right after
    vi.advanceTimersByTime(2000);
    expect(trim).toHaveBeenCalledTimes(1); // within the gap
    vi.advanceTimersByTime(4000);
    expect(trim).toHaveBeenCalledTimes(2);
    t.stop();
  });

  it.runIf(netnsAddonStatus().ok && addonMallocTrim() !== undefined)(
    'calls glibc malloc_trim through the addon',
    () => {
      const trim = addonMallocTrim()!;
      expect(typeof trim()).toBe('boolean');
    },
  );

  it('runs a full V8 collection without --expose-gc on the command line', () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    const allocate = (): number => Array.from({ length: 200_000 }, (_, i) => ({ i })).length;
    expect(allocate()).toBe(200_000);
    const before = process.memoryUsage().heapUsed;
    fullCollection();
    expect(process.memoryUsage().heapUsed).toBeLessThan(before);
  });
});
