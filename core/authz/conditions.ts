// `when` conditions of an AuthorizationPolicy rule, compiled once. Keys follow Istio's
// "Authorization Policy Conditions" reference; `values` match when any value matches,
// `notValues` when none does, both present = both must hold. Multi-valued attributes (list
// claims, audiences, repeated headers) match when any element does.
import type { AuthzCondition } from '../model/types.js';
import { anyCidrContains, parseCidr } from './ip-match.js';
import type { RequestView } from './request-view.js';
import { compileStringList, type ValueMatcher } from './string-match.js';

export type Predicate = (view: RequestView) => boolean;

/** The keys ztunnel can evaluate on a connection (istio.io "Use Layer 4 security policy"). */
export const L4_CONDITION_KEYS: ReadonlySet<string> = new Set([
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
]);

type Attr = string | readonly string[] | undefined;
type Extract = (view: RequestView) => Attr;

function stringKey(key: string): Extract | undefined {
  switch (key) {
    case 'source.namespace':
      return (v) => v.namespace;
    case 'source.principal':
      return (v) => v.principal;
    case 'request.auth.principal':
      return (v) => v.req.http?.requestPrincipal;
    case 'request.auth.audiences':
      return (v) => v.claim(['aud']);
    case 'request.auth.presenter':
      return (v) => v.claim(['azp']);
    // Not available to Ambit (no SNI on the inner tunnel stream): never matches `values`.
    case 'connection.sni':
      return () => undefined;
  }
  const header = /^request\.headers\[([^\]]+)\]$/.exec(key);
  if (header) {
    const name = header[1]!.toLowerCase();
    return (v) => v.header(name);
  }
  if (key.startsWith('request.auth.claims[')) {
    const path = parseClaimPath(key.slice('request.auth.claims'.length));
    if (path) return (v) => v.claim(path);
  }
  return undefined;
}

/** `[a][b]` → ['a','b']; undefined when malformed. */
function parseClaimPath(text: string): string[] | undefined {
  const out: string[] = [];
  const re = /\[([^\][]+)\]/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    out.push(m[1]!);
    pos = re.lastIndex;
  }
  return out.length ? out : undefined;
}

function anyMatches(m: ValueMatcher, a: Attr): boolean {
  if (a === undefined) return false;
  if (typeof a === 'string') return m(a);
  for (const e of a) if (m(e)) return true;
  return false;
}

/** Compile one condition; throws an Error naming the problem (caller adds the field path). */
export function compileCondition(
  c: AuthzCondition,
  expandPrincipals: (values: readonly string[]) => readonly string[] = (v) => v,
): Predicate {
  const isPrincipal = c.key === 'source.principal';
  const values = isPrincipal ? expandPrincipals(c.values ?? []) : (c.values ?? []);
  const notValues = isPrincipal ? expandPrincipals(c.notValues ?? []) : (c.notValues ?? []);
  if (values.length === 0 && notValues.length === 0) {
    throw new Error(`condition "${c.key}" needs values or notValues`);
  }
  if (c.key === 'source.ip' || c.key === 'remote.ip' || c.key === 'destination.ip') {
    const pick =
      c.key === 'source.ip'
        ? (v: RequestView) => v.sourceIp
        : c.key === 'remote.ip'
          ? (v: RequestView) => v.remoteIp
          : (v: RequestView) => v.destinationIp;
    const pos = values.map(parseCidr);
    const neg = notValues.map(parseCidr);
    return combine(
      pos.length ? (v) => anyCidrContains(pos, pick(v)) : undefined,
      neg.length ? (v) => !anyCidrContains(neg, pick(v)) : undefined,
    );
  }
  if (c.key === 'destination.port') {
    const pos = new Set(values.map((p) => parsePort(p)));
    const neg = new Set(notValues.map((p) => parsePort(p)));
    return combine(
      pos.size ? (v) => pos.has(v.req.destination.port) : undefined,
      neg.size ? (v) => !neg.has(v.req.destination.port) : undefined,
    );
  }
  const extract = stringKey(c.key);
  if (!extract) throw new Error(`unsupported condition key "${c.key}"`);
  const pos = values.length ? compileStringList(values) : undefined;
  const neg = notValues.length ? compileStringList(notValues) : undefined;
  return combine(
    pos ? (v) => anyMatches(pos, extract(v)) : undefined,
    neg ? (v) => !anyMatches(neg, extract(v)) : undefined,
  );
}

export function parsePort(text: string): number {
  const n = /^\d{1,5}$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`"${text}" is not a port number`);
  return n;
}

function combine(a: Predicate | undefined, b: Predicate | undefined): Predicate {
  if (a && b) return (v) => a(v) && b(v);
  return a ?? b ?? (() => true);
}
