import { describe, expect, it } from 'vitest';
import { cachedTokenReview } from './token-cache.js';

describe('cachedTokenReview', () => {
  it('keeps a successful review for ttlMs and a failed one for failureTtlMs', async () => {
    let clock = 0;
    const calls: string[] = [];
    const review = cachedTokenReview(
      async (t) => {
        calls.push(t);
        return t === 'good' ? { authenticated: true, username: 'system:serviceaccount:a:b' } : { authenticated: false };
      },
      { ttlMs: 1000, failureTtlMs: 200, now: () => clock },
    );
    expect((await review('good')).authenticated).toBe(true);
    expect((await review('good')).username).toBe('system:serviceaccount:a:b');
    expect((await review('bad')).authenticated).toBe(false);
    expect((await review('bad')).authenticated).toBe(false);
    expect(calls).toEqual(['good', 'bad']);
    clock = 300; // the failure expired, the success did not
    await review('bad');
    await review('good');
    expect(calls).toEqual(['good', 'bad', 'bad']);
    clock = 1500;
    await review('good');
    expect(calls).toEqual(['good', 'bad', 'bad', 'good']);
  });

  it('shares one review among concurrent requests, never caches a thrown error, and stays bounded', async () => {
    const calls: string[] = [];
    let fail = true;
    const review = cachedTokenReview(
      async (t) => {
        calls.push(t);
        await new Promise((r) => setTimeout(r, 10));
        if (t === 'flaky' && fail) throw new Error('API server unreachable');
        return { authenticated: true };
      },
      { maxEntries: 2 },
    );
    await Promise.all([review('a'), review('a'), review('a')]);
    expect(calls).toEqual(['a']);
    await expect(review('flaky')).rejects.toThrow('unreachable');
    fail = false;
    expect((await review('flaky')).authenticated).toBe(true);
    await review('b');
    await review('a'); // evicted by 'flaky' and 'b' (at most 2 entries)
    expect(calls).toEqual(['a', 'flaky', 'flaky', 'b', 'a']);
  });
});
