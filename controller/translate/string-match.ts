// Istio StringMatch as decoded from a CRD (`{exact|prefix|regex: ...}`) → the model's StringMatch.
import type { StringMatch } from '../../core/model/l7.js';
import type { StringMatchSpec } from './virtual-service-spec.js';

/** `{}` means present with any value. */
export function stringMatch(spec: StringMatchSpec | undefined): StringMatch | undefined {
  if (!spec) return undefined;
  if (spec.exact !== undefined) return { type: 'exact', value: spec.exact };
  if (spec.prefix !== undefined) return { type: 'prefix', value: spec.prefix };
  if (spec.regex !== undefined) return { type: 'regex', value: spec.regex };
  // `{}`: the header must be present with any value.
  return { type: 'regex', value: '.*' };
}
