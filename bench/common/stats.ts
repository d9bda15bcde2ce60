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

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] as number;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] as number,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/** Round to `digits` significant decimals for reporting (keeps small values readable). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Rounds of one case → one row: per metric the median of the rounds (the lower middle one for
 * an even count), with `<metric>_min` and `<metric>_max` beside it. Non-numeric fields keep
 * the first round's value.
 */
export function medianRow<R extends { readonly case: string }>(
  rounds: readonly R[],
): R & Record<string, number | string> {
  const first = rounds[0];
  if (!first) throw new Error('medianRow: no rounds');
  const out: Record<string, number | string> = { case: first.case };
  for (const m of Object.keys(first).filter((k) => k !== 'case')) {
    const vals = rounds
      .map((r) => (r as unknown as Record<string, unknown>)[m])
      .filter((v): v is number => typeof v === 'number')
      .sort((a, b) => a - b);
    if (vals.length === 0) continue;
    out[m] = vals[Math.floor((vals.length - 1) / 2)]!;
    if (rounds.length > 1) {
      out[`${m}_min`] = vals[0]!;
      out[`${m}_max`] = vals[vals.length - 1]!;
    }
  }
  return out as R & Record<string, number | string>;
}

/** "median (min–max)" of a medianRow metric, for logs and README tables. */
export function spreadText(
  row: Readonly<Record<string, unknown>>,
  m: string,
  fmt: (v: number) => string = String,
): string {
  const v = row[m];
  if (typeof v !== 'number') return '-';
  const lo = row[`${m}_min`];
  const hi = row[`${m}_max`];
  return typeof lo === 'number' && typeof hi === 'number' ? `${fmt(v)} (${fmt(lo)}–${fmt(hi)})` : fmt(v);
}
