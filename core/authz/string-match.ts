// Istio's AuthorizationPolicy string matching, compiled once: `*` alone is a presence match
// (any non-empty value), `*suffix` a suffix match, `prefix*` a prefix match, anything else
// exact. Hosts compare case-insensitively; paths also understand Envoy URI templates
// (`{*}` one segment, `{**}` any number of segments), as the Istio reference documents.

export type ValueMatcher = (value: string | undefined) => boolean;

interface Pattern { readonly kind: 'exact' | 'prefix' | 'suffix' | 'presence'; readonly text: string }

function classify(raw: string): Pattern {
  if (raw === '*') return { kind: 'presence', text: '' };
  if (raw.startsWith('*')) return { kind: 'suffix', text: raw.slice(1) };
  if (raw.endsWith('*')) return { kind: 'prefix', text: raw.slice(0, -1) };
  return { kind: 'exact', text: raw };
}

function testPattern(p: Pattern, v: string): boolean {
  switch (p.kind) {
    case 'presence': return v.length > 0;
    case 'exact': return v === p.text;
    case 'prefix': return v.startsWith(p.text);
    case 'suffix': return v.endsWith(p.text);
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
 * Paths: compared without the query string or fragment and after RFC 3986 normalisation
 * (see normalizePath); `{*}`/`{**}` templates supported.
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
    const path = normalizePath(pathOnly(value));
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

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * What Istio's default path normalisation (BASE: RFC 3986) does before RBAC sees the path:
 * percent-encoded unreserved characters are decoded and `.`/`..` segments removed, so
 * `/public/../admin` and `/%61dmin` cannot slip past a policy on `/admin*`. Cheap when the
 * path has neither `%` nor a dot segment (the common case): returned as is.
 */
export function normalizePath(path: string): string {
  let p = path;
  if (p.includes('%')) {
    p = p.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
      const ch = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(ch) ? ch : m.toUpperCase();
    });
  }
  if (!p.includes('/.')) return p;
  const out: string[] = [];
  const segs = p.split('/');
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (seg === '.') { if (last) out.push(''); continue; }
    if (seg === '..') { out.pop(); if (last) out.push(''); continue; }
    out.push(seg);
  }
  return '/' + out.join('/');
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
