// Field checks shared by the per-kind validators, with Istio's rules: durations as Go
// durations of at least 1ms, percentages 0..100, ports 1..65535, RE2 regexes, string labels.

type FieldMap = Readonly<Record<string, unknown>>;

/** The value as a map of fields, when it is one (helpers here also check undecoded input). */
function mapOf(value: unknown): FieldMap | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as FieldMap) : undefined;
}

export interface Issue {
  readonly field: string;
  readonly reason: string;
}

/** Collects issues with their field paths (`spec.http[0].route[1].weight`). */
export class Issues {
  readonly list: Issue[] = [];
  add(field: string, reason: string): void {
    this.list.push({ field, reason });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

const DURATION_UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 0.000001,
};
const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)(h|ms|m|s|us|µs|ns)/y;

/** Go/protobuf duration text → milliseconds, or undefined when malformed ("1.5x", "10"). */
export function parseDurationMs(text: string): number | undefined {
  if (text === '') return undefined;
  let ms = 0;
  DURATION_PART.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(text);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    ms += Number(m[1]) * (DURATION_UNIT_MS[m[2]] ?? NaN);
    pos = DURATION_PART.lastIndex;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

export function checkDuration(
  issues: Issues,
  field: string,
  value: unknown,
  opts: { min1ms?: boolean } = { min1ms: true },
): void {
  if (value === undefined) return;
  if (typeof value !== 'string')
    return issues.add(field, `duration must be a string like "5s" or "100ms", got ${JSON.stringify(value)}`);
  const ms = parseDurationMs(value);
  if (ms === undefined) return issues.add(field, `invalid duration "${value}" (use h, m, s, ms, e.g. "1.5s")`);
  if (opts.min1ms && ms < 1) issues.add(field, `duration "${value}" must be at least 1ms`);
}

/** Istio Percent: `{value: 0..100}`. */
export function checkPercentage(issues: Issues, field: string, value: unknown): void {
  if (value === undefined) return;
  const r = mapOf(value);
  const v = r ? r.value : undefined;
  if (!r || (v !== undefined && typeof v !== 'number'))
    return issues.add(field, 'percentage must be {value: <number between 0 and 100>}');
  if (typeof v === 'number' && (v < 0 || v > 100 || !Number.isFinite(v)))
    issues.add(`${field}.value`, `percentage ${v} must be between 0 and 100`);
}

export function checkPort(issues: Issues, field: string, value: unknown, required = false): void {
  if (value === undefined) {
    if (required) issues.add(field, 'port is required');
    return;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    issues.add(field, `invalid port ${JSON.stringify(value)} (must be an integer 1..65535)`);
  }
}

// RE2 (Envoy's regex engine) has no lookaround and no backreferences.
const NOT_RE2 = /\(\?[=!]|\(\?<[=!]|\\[1-9]/;

export function checkRegex(issues: Issues, field: string, value: unknown): void {
  if (typeof value !== 'string') return issues.add(field, 'regex must be a string');
  if (NOT_RE2.test(value))
    return issues.add(field, `regex "${value}" uses lookaround or backreferences, which RE2 does not support`);
  try {
    new RegExp(value, 'u');
  } catch (err) {
    issues.add(field, `bad regex "${value}": ${(err as Error).message}`);
  }
}

/** Istio StringMatch: exactly one of exact/prefix/regex. */
export function checkStringMatch(issues: Issues, field: string, value: unknown): void {
  const r = mapOf(value);
  if (!r) return issues.add(field, 'must be a map with one of exact, prefix, regex');
  const keys = Object.keys(r).filter((k) => k === 'exact' || k === 'prefix' || k === 'regex');
  const unknown = Object.keys(r).filter((k) => k !== 'exact' && k !== 'prefix' && k !== 'regex');
  if (unknown.length > 0) issues.add(`${field}.${unknown[0]}`, 'unknown match type (use exact, prefix or regex)');
  if (keys.length > 1) issues.add(field, `only one of exact, prefix, regex may be set (found ${keys.join(', ')})`);
  for (const k of keys) {
    if (k === 'regex') checkRegex(issues, `${field}.regex`, r.regex);
    else if (typeof r[k] !== 'string') issues.add(`${field}.${k}`, 'must be a string');
  }
}

/** Label maps must be string → string (YAML `version: 1` is a number: quote it). */
export function checkLabels(issues: Issues, field: string, value: unknown): void {
  if (value === undefined) return;
  const r = mapOf(value);
  if (!r) return issues.add(field, 'must be a map of string labels');
  for (const [k, v] of Object.entries(r)) {
    if (typeof v !== 'string')
      issues.add(`${field}.${k}`, `label value must be a string, got ${typeof v} ${JSON.stringify(v)} (quote it)`);
    if (k === '' || /\s/.test(k)) issues.add(`${field}.${k}`, 'invalid label key');
  }
}

/** Istio `selector` / `workloadSelector`: `{matchLabels: {...}}`. */
export function checkSelector(issues: Issues, field: string, value: unknown, labelsKey = 'matchLabels'): void {
  if (value === undefined) return;
  const r = mapOf(value);
  if (!r) return issues.add(field, `must be a map with ${labelsKey}`);
  checkLabels(issues, `${field}.${labelsKey}`, r[labelsKey]);
}

export function checkRequiredString(issues: Issues, field: string, value: unknown): void {
  if (value === undefined || value === null || value === '') issues.add(field, 'required field is missing');
  else if (typeof value !== 'string') issues.add(field, `must be a string, got ${JSON.stringify(value)}`);
}

export function checkStringList(issues: Issues, field: string, value: unknown, required = false): void {
  if (value === undefined) {
    if (required) issues.add(field, 'required field is missing');
    return;
  }
  if (!Array.isArray(value)) return issues.add(field, 'must be a list of strings');
  if (required && value.length === 0) issues.add(field, 'must not be empty');
  value.forEach((v, i) => {
    if (typeof v !== 'string' || v === '') issues.add(`${field}[${i}]`, 'must be a non-empty string');
  });
}

export function checkEnum(
  issues: Issues,
  field: string,
  value: unknown,
  allowed: readonly string[],
  opts: { ignoreCase?: boolean } = {},
): void {
  if (value === undefined) return;
  const v = opts.ignoreCase && typeof value === 'string' ? value.toUpperCase() : value;
  if (typeof v !== 'string' || !allowed.includes(v)) {
    issues.add(field, `unknown value ${JSON.stringify(value)} (allowed: ${allowed.join(', ')})`);
  }
}

/** Host names in VirtualService/DestinationRule/ServiceEntry: a DNS name, `*` or `*.suffix`. */
export function checkHost(issues: Issues, field: string, value: unknown, allowWildcard = true): void {
  if (typeof value !== 'string' || value === '') return issues.add(field, 'host is required');
  if (value === '*') {
    if (!allowWildcard) issues.add(field, 'wildcard host not allowed here');
    return;
  }
  // `*.suffix`, and `*suffix` as Istio's ServiceEntry hosts allow.
  const name =
    allowWildcard && value.startsWith('*.')
      ? value.slice(2)
      : allowWildcard && value.startsWith('*')
        ? value.slice(1)
        : value;
  if (
    !/^[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?)*\.?$/.test(name) ||
    name.includes('*')
  ) {
    issues.add(field, `invalid host "${value}"`);
  }
}

export function checkList(issues: Issues, field: string, value: unknown): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    issues.add(field, 'must be a list');
    return [];
  }
  return value;
}

export function specOf(obj: { readonly [k: string]: unknown }, issues: Issues, required = true): FieldMap {
  const spec = mapOf(obj.spec);
  if (!spec && required) issues.add('spec', 'required field is missing');
  return spec ?? {};
}
