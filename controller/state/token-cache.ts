// Caches TokenReviews: every discovery stream and certificate request of an agent carries
// the same token, and the API server need not see each one.
// - A successful review is kept for a short while (default 30 s).
// - A failed one is kept for less (default 5 s): a caller retrying a bad token in a loop
//   reaches the API server once per window, and a token that just became valid works soon.
// - Concurrent reviews of one token share one request.
// - At most `maxEntries` tokens are kept (the oldest entry goes first); tokens are keyed by
//   their SHA-256, never kept in clear.
// An error thrown by the review (API server unreachable) is not cached.
import { createHash } from 'node:crypto';
import type { TokenReviewResult } from '../ca/auth.js';

export interface TokenReviewCacheOptions {
  ttlMs?: number;
  failureTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export function cachedTokenReview(
  review: (token: string) => Promise<TokenReviewResult>,
  opts: TokenReviewCacheOptions = {},
): (token: string) => Promise<TokenReviewResult> {
  const ttl = opts.ttlMs ?? 30_000;
  const failureTtl = opts.failureTtlMs ?? 5_000;
  const max = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { until: number; result: TokenReviewResult }>();
  const inFlight = new Map<string, Promise<TokenReviewResult>>();

  const remember = (key: string, result: TokenReviewResult): void => {
    cache.delete(key);
    if (cache.size >= max) cache.delete(cache.keys().next().value!);
    cache.set(key, { until: now() + (result.authenticated ? ttl : failureTtl), result });
  };

  return (token) => {
    const key = createHash('sha256').update(token).digest('base64');
    const hit = cache.get(key);
    if (hit) {
      if (now() < hit.until) return Promise.resolve(hit.result);
      cache.delete(key);
    }
    const pending = inFlight.get(key);
    if (pending) return pending;
    const request = review(token)
      .then((result) => {
        remember(key, result);
        return result;
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, request);
    return request;
  };
}
