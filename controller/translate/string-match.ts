// Istio StringMatch as written in a CRD (`{exact|prefix|regex: ...}`) → the model's StringMatch.
import { rec } from './raw.js';
import type { StringMatch } from '../../core/model/l7.js';

/** `{}` means present with any value. */
export function stringMatch(raw: unknown): StringMatch | undefined {
  const r = rec(raw);
  if (!r) return undefined;
  for (const type of ['exact', 'prefix', 'regex'] as const)
    if (typeof r[type] === 'string') return { type, value: r[type] as string };
  // `{}`: the header must be present with any value.
  return Object.keys(r).length === 0 ? { type: 'regex', value: '.*' } : undefined;
}
