// Shared settings of the property-based (fuzz) tests, `*.fuzz.test.ts` next to the code they
// exercise. `npm test` runs each property for a few hundred cases; `npm run fuzz` (scripts/
// fuzz.mjs) sets FUZZ_RUNS for a longer campaign (at least 10,000 cases per property).
// A failure prints fast-check's seed and path: replay with FUZZ_SEED and FUZZ_PATH.
import { fc } from '@fast-check/vitest';

/** Cases per property: FUZZ_RUNS when set, else `quick` (scaled down for slow, I/O-bound properties). */
export function fuzzRuns(quick = 200): number {
  const env = Number(process.env.FUZZ_RUNS);
  return Number.isFinite(env) && env > 0 ? Math.floor(env) : quick;
}

/** True during the long campaign (FUZZ_RUNS set). */
export const longCampaign = Number(process.env.FUZZ_RUNS) > 0;

/**
 * fast-check parameters for one property: the number of runs, the replay seed/path when given,
 * and the regression inputs (`examples`) every run checks first.
 */
export function fuzzParams<T extends unknown[] = never>(
  opts: { quick?: number; examples?: [...T][] } = {},
): { numRuns: number; seed?: number; path?: string; examples?: T[] } {
  const seed = Number(process.env.FUZZ_SEED);
  return {
    numRuns: fuzzRuns(opts.quick),
    ...(process.env.FUZZ_SEED && Number.isFinite(seed) ? { seed } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    ...(opts.examples ? { examples: opts.examples } : {}),
  };
}

/** Test timeout for a property: generous in the long campaign. */
export function fuzzTimeout(quickMs = 30_000): number {
  return longCampaign ? 30 * 60_000 : quickMs;
}

/** Bytes in the shapes parsers see most: random, mostly ASCII text, and near-valid prefixes. */
export const arbitraryBytes = (maxLength = 256): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength }),
    fc.string({ maxLength, unit: 'binary' }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
  );

export { fc };
