// VirtualService `http[].corsPolicy` → the waypoint's CorsPolicy. maxAge becomes whole seconds,
// as Envoy writes Access-Control-Max-Age. (The deprecated `allowOrigin` is not in the schema.)
import { bool, compact, rec, str, strs } from './raw.js';
import { parseDurationMs } from './validate/common.js';
import { stringMatch } from './string-match.js';
import type { CorsPolicy, StringMatch } from '../../core/model/l7.js';

export function corsPolicyOf(raw: unknown): CorsPolicy | undefined {
  const r = rec(raw);
  if (!r) return undefined;
  const origins: StringMatch[] = [];
  if (Array.isArray(r.allowOrigins))
    for (const m of r.allowOrigins) {
      const sm = stringMatch(m);
      if (sm) origins.push(sm);
    }
  const maxAge = str(r.maxAge);
  const maxAgeMs = maxAge ? parseDurationMs(maxAge) : undefined;
  const unmatched = str(r.unmatchedPreflights);
  return compact<CorsPolicy>({
    allowOrigins: origins,
    allowMethods: Array.isArray(r.allowMethods) ? strs(r.allowMethods) : undefined,
    allowHeaders: Array.isArray(r.allowHeaders) ? strs(r.allowHeaders) : undefined,
    exposeHeaders: Array.isArray(r.exposeHeaders) ? strs(r.exposeHeaders) : undefined,
    maxAgeSeconds: maxAgeMs !== undefined ? Math.floor(maxAgeMs / 1000) : undefined,
    allowCredentials: bool(rec(r.allowCredentials)?.value) ?? bool(r.allowCredentials),
    unmatchedPreflights: unmatched === 'IGNORE' || unmatched === 'FORWARD' ? unmatched : undefined,
  });
}
