// Istio StringMatch compiled once per config: exact, prefix, or regex (full match, RE2
// syntax; JavaScript regexes accept the RE2 subset Istio validates).
import type { StringMatch } from '../../core/model/l7.js';

export type CompiledStringMatch = (value: string | undefined) => boolean;

export function compileStringMatch(match: StringMatch, ignoreCase = false): CompiledStringMatch {
  const want = ignoreCase ? match.value.toLowerCase() : match.value;
  const norm = (v: string): string => (ignoreCase ? v.toLowerCase() : v);
  switch (match.type) {
    case 'exact':
      return (v) => v !== undefined && norm(v) === want;
    case 'prefix':
      return (v) => v !== undefined && norm(v).startsWith(want);
    case 'regex': {
      // Anchored: Envoy's safe_regex must match the whole value.
      const re = new RegExp(`^(?:${match.value})$`, ignoreCase ? 'i' : '');
      return (v) => v !== undefined && re.test(v);
    }
  }
}
