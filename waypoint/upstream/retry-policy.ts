// Which outcomes a route retries, with Envoy's meanings of `retryOn`, and Istio's default
// policy for routes that set none (2 retries on connect-failure, refused-stream,
// unavailable, cancelled and 503).
import type { RetryPolicy } from '../../core/model/l7.js';

export const ISTIO_DEFAULT_RETRY: RetryPolicy = {
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes', '503'],
};

/** status 0 = no response: `failure` tells connect failure from a reset after connecting. */
export interface AttemptOutcome {
  readonly status: number;
  readonly failure?: 'connect' | 'reset' | 'timeout';
  readonly grpcStatus?: string;
}

const GRPC_CODES: Record<string, string> = {
  cancelled: '1',
  'deadline-exceeded': '4',
  'resource-exhausted': '8',
  unavailable: '14',
  internal: '13',
};

export function compileRetryOn(retryOn: readonly string[]): (o: AttemptOutcome) => boolean {
  const conditions = new Set(retryOn.map((s) => s.trim().toLowerCase()).filter(Boolean));
  const codes = new Set([...conditions].filter((c) => /^\d{3}$/.test(c)).map(Number));
  return (o) => {
    if (o.status === 0) {
      if (o.failure === 'timeout') return conditions.has('5xx') || conditions.has('gateway-error');
      if (o.failure === 'connect')
        return (
          conditions.has('connect-failure') ||
          conditions.has('5xx') ||
          conditions.has('gateway-error') ||
          conditions.has('reset')
        );
      return conditions.has('reset') || conditions.has('5xx') || conditions.has('refused-stream');
    }
    if (conditions.has('5xx') && o.status >= 500) return true;
    if (conditions.has('gateway-error') && (o.status === 502 || o.status === 503 || o.status === 504)) return true;
    if (conditions.has('retriable-4xx') && o.status === 409) return true;
    // Istio lists bare codes in retryOn and turns on retriable-status-codes for them.
    if (codes.has(o.status)) return true;
    if (o.grpcStatus) {
      for (const [name, code] of Object.entries(GRPC_CODES))
        if (conditions.has(name) && o.grpcStatus === code) return true;
    }
    return false;
  };
}

const compiled = new WeakMap<readonly string[], (o: AttemptOutcome) => boolean>();

/** compileRetryOn, once per retryOn list (a route's config object), not once per request. */
export function retryOnPredicate(retryOn: readonly string[]): (o: AttemptOutcome) => boolean {
  let f = compiled.get(retryOn);
  if (!f) {
    f = compileRetryOn(retryOn);
    compiled.set(retryOn, f);
  }
  return f;
}

/** Envoy's retry back-off: 25 ms base, doubling, full jitter, at most 250 ms. */
export function retryBackoffMs(retry: number, random: () => number): number {
  const ceiling = Math.min(250, 25 * 2 ** retry);
  return Math.floor(random() * ceiling);
}
