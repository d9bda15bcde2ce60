import { afterEach, describe, expect, it, vi } from 'vitest';
import { fullCollection, startMallocTrim } from './malloc-trim.js';
import { getHeapSpaceStatistics } from 'node:v8';
import { memoryAddon } from './memory-addon.js';

describe('startMallocTrim (core)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('without a trim function nothing runs (no addon: no trim, no collection)', () => {
    vi.useFakeTimers();
    let activity = 0;
    const collect = vi.fn();
    const t = startMallocTrim({ activity: () => ++activity, trim: undefined, collect, cpuMs: () => 0 });
    vi.advanceTimersByTime(60_000);
    expect(collect).not.toHaveBeenCalled();
    expect(t.count).toBe(0);
    t.stop();
  });

  it('with busyIsActivity a load on connections already open is followed by a trim', () => {
    vi.useFakeTimers();
    let cpu = 0;
    const trim = vi.fn(() => true);
    const collect = vi.fn();
    const options = {
      activity: () => 7, // no connection comes or goes: keep-alive tunnels only
      cpuMs: () => cpu,
      trim,
      collect,
      intervalMs: 1000,
      minGapMs: 0,
    };
    const plain = startMallocTrim(options);
    const busy = startMallocTrim({ ...options, busyIsActivity: true });
    for (let i = 0; i < 5; i++) {
      cpu += 400; // 40% of a core each second
      vi.advanceTimersByTime(1000);
    }
    expect(trim).not.toHaveBeenCalled(); // not while the load goes on
    vi.advanceTimersByTime(1000); // the load is over
    expect(busy.count).toBe(1);
    expect(plain.count).toBe(0); // without it, only connection changes count
    expect(collect).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000); // idle: nothing more
    expect(trim).toHaveBeenCalledTimes(1);
    plain.stop();
    busy.stop();
  });

  it('with afterStart the start counts as a load: one trim after the first quiet interval', () => {
    vi.useFakeTimers();
    const trim = vi.fn(() => true);
    const options = { activity: () => 0, cpuMs: () => 0, trim, collect: () => undefined, intervalMs: 1000 };
    const idle = startMallocTrim(options);
    const started = startMallocTrim({ ...options, afterStart: true });
    vi.advanceTimersByTime(10_000);
    expect(started.count).toBe(1);
    expect(idle.count).toBe(0);
    idle.stop();
    started.stop();
  });

  it('under a load that never pauses, trims after maxDelayMs without a collection', () => {
    vi.useFakeTimers();
    let cpu = 0;
    const trim = vi.fn(() => true);
    const collect = vi.fn();
    const t = startMallocTrim({
      activity: () => 0,
      cpuMs: () => (cpu += 500),
      trim,
      collect,
      busyIsActivity: true,
      intervalMs: 1000,
      maxDelayMs: 5000,
      minGapMs: 0,
    });
    vi.advanceTimersByTime(12_000);
    expect(trim.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(collect).not.toHaveBeenCalled();
    t.stop();
  });
});

describe('startMallocTrim: activity, CPU and gaps', () => {
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

  it('runs a full V8 collection without --expose-gc on the command line', () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    const allocate = (): number => Array.from({ length: 200_000 }, (_, i) => ({ i })).length;
    expect(allocate()).toBe(200_000);
    const before = process.memoryUsage().heapUsed;
    fullCollection();
    expect(process.memoryUsage().heapUsed).toBeLessThan(before);
  });
});

describe('memoryAddon', () => {
  const found = memoryAddon();
  const addon = 'addon' in found ? found.addon : undefined;

  it('says why when there is no addon', () => {
    if ('reason' in found) expect(found.reason).toMatch(/memory addon/);
    else expect(typeof found.addon.mallocTrim).toBe('function');
  });

  // npm ci builds it (scripts/build-native.mjs); CI must not silently run without the trim.
  it.runIf(process.env.CI === 'true' && process.platform === 'linux')('is built in CI', () => {
    expect('reason' in found ? found.reason : 'built').toBe('built');
  });

  it.runIf(addon !== undefined)('calls glibc malloc_trim', () => {
    expect(typeof addon!.mallocTrim()).toBe('boolean');
  });

  it.runIf(addon !== undefined)('shrinks the young generation a load grew, at once', () => {
    const MiB = 1048576;
    const newSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    expect(addon!.lowMemoryNotification()).toBe(true);
    expect(newSpace()).toBeLessThanOrEqual(4 * MiB);
    const survivors: unknown[] = [];
    // Short-lived objects with a few survivors: V8 grows its semi-spaces.
    for (let round = 0; round < 400 && newSpace() <= 4 * MiB; round++) {
      const batch = Array.from({ length: 20_000 }, (_, i) => ({ i, s: `x${i}` }));
      if (round % 10 === 0) survivors.push(batch.slice(0, 1000));
    }
    const grown = newSpace();
    expect(grown).toBeGreaterThan(4 * MiB);
    expect(addon!.lowMemoryNotification()).toBe(true);
    expect(newSpace()).toBeLessThanOrEqual(4 * MiB);
    survivors.length = 0;
  });
});
