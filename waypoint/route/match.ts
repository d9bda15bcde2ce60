// VirtualService `match[]`: conditions inside one block are ANDed, blocks are ORed, and a
// route without blocks matches everything.
import type { HttpMatch, HttpRoute } from '../../core/model/l7.js';
import { compileStringMatch, type CompiledStringMatch } from './string-match.js';
import type { RequestView } from './request-view.js';

export type RequestPredicate = (req: RequestView) => boolean;

function hostOnly(authority: string): string {
  // Strip the port, keeping IPv6 literals intact.
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const colon = authority.lastIndexOf(':');
  return colon > 0 ? authority.slice(0, colon) : authority;
}

function compileHeaderMap(
  matches: Readonly<Record<string, import('../../core/model/l7.js').StringMatch>> | undefined,
  read: (req: RequestView, name: string) => string | undefined,
): Array<(req: RequestView) => boolean> {
  if (!matches) return [];
  return Object.entries(matches).map(([name, m]) => {
    const test = compileStringMatch(m);
    const key = name.toLowerCase();
    return (req) => test(read(req, key));
  });
}

export function compileMatch(match: HttpMatch): RequestPredicate {
  const checks: RequestPredicate[] = [];
  const add = (m: CompiledStringMatch | undefined, read: (req: RequestView) => string | undefined): void => {
    if (m) checks.push((req) => m(read(req)));
  };
  add(match.uri && compileStringMatch(match.uri, match.ignoreUriCase ?? false), (r) => r.path);
  add(match.scheme && compileStringMatch(match.scheme), (r) => r.scheme);
  add(match.method && compileStringMatch(match.method), (r) => r.method);
  add(match.authority && compileStringMatch(match.authority), (r) => hostOnly(r.authority));
  checks.push(...compileHeaderMap(match.headers, (r, name) => r.headers[name]));
  for (const notMatch of compileHeaderMap(match.withoutHeaders, (r, name) => r.headers[name])) {
    checks.push((req) => !notMatch(req));
  }
  // Query parameter names are case-sensitive.
  if (match.queryParams) {
    for (const [name, m] of Object.entries(match.queryParams)) {
      const test = compileStringMatch(m);
      checks.push((req) => test(req.query.get(name) ?? undefined));
    }
  }
  if (match.port !== undefined) {
    const port = match.port;
    checks.push((req) => req.port === port);
  }
  if (match.sourceLabels) {
    const wanted = Object.entries(match.sourceLabels);
    checks.push((req) => wanted.every(([k, v]) => req.source.labels?.[k] === v));
  }
  if (match.sourceNamespace) {
    const ns = match.sourceNamespace;
    checks.push((req) => req.source.namespace === ns);
  }
  return (req) => checks.every((check) => check(req));
}

export function compileRouteMatch(route: HttpRoute): RequestPredicate {
  if (route.matches.length === 0) return () => true;
  const blocks = route.matches.map(compileMatch);
  return (req) => blocks.some((block) => block(req));
}
