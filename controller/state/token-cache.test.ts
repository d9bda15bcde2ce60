import { describe, expect, it } from 'vitest';
import { cachedTokenReview } from './token-cache.js';

describe('cachedTokenReview', () => {
  it('reuses a successful review until it expires and never caches a failure', async () => {
    let clock = 0;
    const calls: string[] = [];
    const review = cachedTokenReview(async (t) => { calls.push(t); return t === 'good' ? { authenticated: true, username: 'system:serviceaccount:a:b' } : { authenticated: false }; }, { ttlMs: 1000, now: () => clock });
    expect((await review('good')).authenticated).toBe(true);
    expect((await review('good')).username).toBe('system:serviceaccount:a:b');
    expect((await review('bad')).authenticated).toBe(false);
    expect((await review('bad')).authenticated).toBe(false);
    clock = 1500;
    await review('good');
    expect(calls).toEqual(['good', 'bad', 'bad', 'good']);
  });
});
