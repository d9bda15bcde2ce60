// VirtualService `http[].corsPolicy` → the waypoint's CorsPolicy. maxAge becomes whole seconds,
// as Envoy writes Access-Control-Max-Age. The deprecated `allowOrigin` (plain strings) are exact
// origins, as Istio reads them, and come before `allowOrigins`.
import { compact } from './collections.js';
import { parseDurationMs } from './validate/common.js';
import { stringMatch } from './string-match.js';
import type { CorsPolicy, StringMatch } from '../../core/model/l7.js';
import type { CorsPolicySpec } from './virtual-service-spec.js';

export function corsPolicyOf(spec: CorsPolicySpec | undefined): CorsPolicy | undefined {
  if (!spec) return undefined;
  const origins: StringMatch[] = (spec.allowOrigin ?? []).map((value) => ({ type: 'exact', value }));
  for (const m of spec.allowOrigins ?? []) {
    const sm = stringMatch(m);
    if (sm) origins.push(sm);
  }
  const maxAgeMs = spec.maxAge ? parseDurationMs(spec.maxAge) : undefined;
  const unmatched = spec.unmatchedPreflights;
  return compact<CorsPolicy>({
    allowOrigins: origins,
    allowMethods: spec.allowMethods,
    allowHeaders: spec.allowHeaders,
    exposeHeaders: spec.exposeHeaders,
    maxAgeSeconds: maxAgeMs !== undefined ? Math.floor(maxAgeMs / 1000) : undefined,
    allowCredentials: spec.allowCredentials,
    unmatchedPreflights: unmatched === 'IGNORE' || unmatched === 'FORWARD' ? unmatched : undefined,
  });
}
