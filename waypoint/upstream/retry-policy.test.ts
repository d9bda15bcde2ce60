import { describe, expect, it } from 'vitest';
import { compileRetryOn, ISTIO_DEFAULT_RETRY, retryBackoffMs } from './retry-policy.js';

describe('retryOn', () => {
  it('5xx covers every 5xx and every failure without an answer', () => {
    const r = compileRetryOn(['5xx']);
    expect([500, 503, 504].map((status) => r({ status }))).toEqual([true, true, true]);
    expect(r({ status: 409 })).toBe(false);
    expect(r({ status: 0, failure: 'connect' })).toBe(true);
    expect(r({ status: 0, failure: 'reset' })).toBe(true);
    expect(r({ status: 0, failure: 'timeout' })).toBe(true);
  });

  it('gateway-error is 502/503/504 only; connect-failure and reset are their own conditions', () => {
    const gw = compileRetryOn(['gateway-error']);
    expect([500, 502, 503, 504].map((status) => gw({ status }))).toEqual([false, true, true, true]);
    const connect = compileRetryOn(['connect-failure']);
    expect(connect({ status: 0, failure: 'connect' })).toBe(true);
    expect(connect({ status: 0, failure: 'reset' })).toBe(false);
    expect(connect({ status: 503 })).toBe(false);
    const reset = compileRetryOn(['reset']);
    expect(reset({ status: 0, failure: 'reset' })).toBe(true);
    expect(reset({ status: 503 })).toBe(false);
  });

  it('retriable-4xx is 409; bare codes are retriable status codes; gRPC names match grpc-status', () => {
    expect(compileRetryOn(['retriable-4xx'])({ status: 409 })).toBe(true);
    expect(compileRetryOn(['retriable-4xx'])({ status: 404 })).toBe(false);
    const codes = compileRetryOn(['retriable-status-codes', '418', '429']);
    expect(codes({ status: 418 })).toBe(true);
    expect(codes({ status: 429 })).toBe(true);
    expect(codes({ status: 500 })).toBe(false);
    expect(compileRetryOn(['unavailable'])({ status: 200, grpcStatus: '14' })).toBe(true);
  });

  it("Istio's default retries connect failures and 503, not 500", () => {
    const d = compileRetryOn(ISTIO_DEFAULT_RETRY.retryOn);
    expect(ISTIO_DEFAULT_RETRY.attempts).toBe(2);
    expect(d({ status: 503 })).toBe(true);
    expect(d({ status: 0, failure: 'connect' })).toBe(true);
    expect(d({ status: 500 })).toBe(false);
  });

  it('backs off with jitter under a growing ceiling of at most 250 ms', () => {
    expect(retryBackoffMs(0, () => 0.999)).toBeLessThan(25);
    expect(retryBackoffMs(1, () => 0.999)).toBeGreaterThanOrEqual(25);
    expect(retryBackoffMs(10, () => 0.999)).toBeLessThan(250);
  });
});
