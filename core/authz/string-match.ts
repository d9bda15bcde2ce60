// Istio's AuthorizationPolicy string matching, compiled once: `*` alone is a presence match
// (any non-empty value), `*suffix` a suffix match, `prefix*` a prefix match, anything else
// exact. Hosts compare case-insensitively; paths also understand Envoy URI templates
// (`{*}` one segment, `{**}` any number of segments), as the Istio reference documents.

export type ValueMatcher = (value: string | undefined) => boolean;

interface Pattern {
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'presence';
  readonly text: string;
}

function classify(raw: string): Pattern {
  if (raw === '*') return { kind: 'presence', text: '' };
  if (raw.startsWith('*')) return { kind: 'suffix', text: raw.slice(1) };
  if (raw.endsWith('*')) return { kind: 'prefix', text: raw.slice(0, -1) };
  return { kind: 'exact', text: raw };
}

function testPattern(p: Pattern, v: string): boolean {
  switch (p.kind) {
    case 'presence':
      return v.length > 0;
    case 'exact':
      return v === p.text;
    case 'prefix':
      return v.startsWith(p.text);
    case 'suffix':
      return v.endsWith(p.text);
  }
}

/** True when the value matches any of the patterns. An absent value matches nothing. */
export function compileStringList(values: readonly string[], opts: { ignoreCase?: boolean } = {}): ValueMatcher {
  const exact = new Set<string>();
  const others: Pattern[] = [];
  for (const raw of values) {
    const p = classify(opts.ignoreCase ? raw.toLowerCase() : raw);
    if (p.kind === 'exact') exact.add(p.text);
    else others.push(p);
  }
  const ignoreCase = opts.ignoreCase === true;
  return (value) => {
    if (value === undefined) return false;
    const v = ignoreCase ? value.toLowerCase() : value;
    if (exact.has(v)) return true;
    for (const p of others) if (testPattern(p, v)) return true;
    return false;
  };
}

/**
 * Hosts: case-insensitive (RFC 4343; Istio fixed a bypass here, GHSA-7774-7vr3-cc8j). As in
 * Istio, an exact host does not match an authority with a port: users write `host:*` too.
 */
export function compileHostList(values: readonly string[]): ValueMatcher {
  return compileStringList(values, { ignoreCase: true });
}

/**
 * Paths: compared without the query string or fragment, as given: the caller hands over the
 * one path the request is routed and forwarded by (the waypoint normalises it on arrival per
 * meshConfig.pathNormalization, core/http/path-normalize.ts), so authorization can never see
 * a different path than the app. `{*}`/`{**}` templates supported.
 */
export function compilePathList(values: readonly string[]): ValueMatcher {
  const plain: string[] = [];
  const templates: RegExp[] = [];
  for (const raw of values) {
    if (raw.includes('{*}') || raw.includes('{**}')) templates.push(templateToRegExp(raw));
    else plain.push(raw);
  }
  const inner = compileStringList(plain);
  return (value) => {
    if (value === undefined) return false;
    const path = pathOnly(value);
    if (inner(path)) return true;
    for (const t of templates) if (t.test(path)) return true;
    return false;
  };
}

export function pathOnly(value: string): string {
  let end = value.length;
  const q = value.indexOf('?');
  if (q >= 0) end = q;
  const h = value.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return end === value.length ? value : value.slice(0, end);
}

function templateToRegExp(template: string): RegExp {
  const parts = template.split(/(\{\*\*\}|\{\*\})/);
  let src = '^';
  for (const part of parts) {
    if (part === '{**}') src += '[^?#]*';
    else if (part === '{*}') src += '[^/?#]+';
    else src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(src + '$');
}
