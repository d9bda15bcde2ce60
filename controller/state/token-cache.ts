// Caches successful TokenReviews for a short while: every discovery stream and certificate
// request of an agent carries the same token, and the API server need not see each one.
// Failures are never cached (a token that just became valid works at once).
import { createHash } from 'node:crypto';
import type { TokenReviewResult } from '../ca/auth.js';

export function cachedTokenReview(
  review: (token: string) => Promise<TokenReviewResult>,
  opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): (token: string) => Promise<TokenReviewResult> {
  const ttl = opts.ttlMs ?? 60_000;
  const max = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; result: TokenReviewResult }>();
  return async (token) => {
    const key = createHash('sha256').update(token).digest('base64');
    const hit = cache.get(key);
    if (hit && now() - hit.at < ttl) return hit.result;
    cache.delete(key);
    const result = await review(token);
    if (result.authenticated) {
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(key, { at: now(), result });
    }
    return result;
  };
}
