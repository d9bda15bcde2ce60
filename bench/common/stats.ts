// Small statistics helpers for benchmark samples.

/**
 * The p-th percentile (0..100) of `samples` by the nearest-rank method. The input need not be
 * sorted; it is not modified. Throws on an empty sample set: a missing figure must not pass as 0.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile: no samples');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile: p must be within 0..100, got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

export interface Summary { count: number; min: number; p50: number; p90: number; p99: number; max: number; mean: number }

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] as number;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length, min: sorted[0] as number, p50: at(50), p90: at(90), p99: at(99),
    max: sorted[sorted.length - 1] as number, mean: sum / sorted.length,
  };
}

/** Round to `digits` significant decimals for reporting (keeps small values readable). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
