// Gateway API HTTPRoute (and GRPCRoute, grpc-route.ts) with a Service parentRef (GAMMA) →
// HttpRoutes for that service's waypoint. When such a route targets a service port it
// replaces the VirtualServices for it: Istio's ambient docs give Gateway API routes
// precedence at a waypoint and ignore a VirtualService for the same service. Supported: path
// Exact/PathPrefix/RegularExpression, headers, queryParams, method; backendRefs with weight
// and port; filters RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect,
// URLRewrite, RequestMirror; timeouts.request and timeouts.backendRequest. Each match of a
// rule becomes one HttpRoute, ordered by the Gateway API's precedence (gamma-order.ts).
import { compact } from './collections.js';
import { translateGrpcRule } from './grpc-route.js';
import { ReferenceGrants, type RefOrigin } from './reference-grants.js';
import { parseDurationMs } from './validate/common.js';
import { destinationPort, type RouteContext } from './virtual-services.js';
import type { Inventory } from './inventory.js';
import type { GrpcRoute, HttpRoute as HttpRouteObject } from './decode-kube.js';
import type { BackendObjectRef, HttpRouteRule } from '../../core/crds/gateway-api.js';
import { clusterName } from '../../core/model/l7.js';
import type { HeaderOperations, HttpMatch, HttpRoute, StringMatch } from '../../core/model/l7.js';
import type { Service } from '../../core/model/types.js';

const PATH_TYPE: Record<string, StringMatch['type']> = {
  Exact: 'exact',
  PathPrefix: 'prefix',
  RegularExpression: 'regex',
};

type Filter = NonNullable<HttpRouteRule['filters']>[number];
type ValueMatch = NonNullable<NonNullable<HttpRouteRule['matches']>[number]['headers']>[number];
type HeaderModifier = NonNullable<Filter['requestHeaderModifier']>;
/** The filters GRPCRoute shares with HTTPRoute. */
export type CommonFilter = Pick<Filter, 'type' | 'requestHeaderModifier' | 'responseHeaderModifier' | 'requestMirror'>;
/** A backendRef (a mirror's has no weight). */
export type BackendRef = BackendObjectRef & { readonly weight?: number };

export function valueMatches(
  items: readonly ValueMatch[] | undefined,
  lower: boolean,
): Record<string, StringMatch> | undefined {
  if (!items || items.length === 0) return undefined;
  return Object.fromEntries(
    items.map((h) => [
      lower ? h.name.toLowerCase() : h.name,
      { type: h.type === 'RegularExpression' ? 'regex' : 'exact', value: h.value } as StringMatch,
    ]),
  );
}

function headerModifier(mod: HeaderModifier | undefined): HeaderOperations | undefined {
  if (!mod) return undefined;
  const toMap = (l: HeaderModifier['set']): Record<string, string> | undefined =>
    l ? Object.fromEntries(l.map((h) => [h.name, h.value])) : undefined;
  return compact({ set: toMap(mod.set), add: toMap(mod.add), remove: mod.remove });
}

/** A backendRef's host and port, or undefined when it names no known Service or one it may not (Gateway API: 500). */
export function backendTarget(
  b: BackendRef,
  from: RefOrigin,
  ctx: RouteContext,
): { host: string; port: number; weight: number } | undefined {
  const kind = b.kind ?? 'Service';
  const group = b.group ?? '';
  if (kind !== 'Service' || (group !== '' && group !== 'core')) return undefined;
  const ns = b.namespace ?? from.namespace;
  const name = b.name;
  if (!from.grants.allows(from.kind, from.namespace, ns, name)) return undefined;
  const host = `${name}.${ns}.svc.${ctx.domain}`;
  if (!ctx.services.has(host)) return undefined;
  return { host, port: b.port ?? destinationPort({}, host, ctx), weight: b.weight ?? 1 };
}

/** Weighted backendRefs → destinations (percentages); a ref that does not resolve keeps its share as a 500. */
export function backendDestinations(
  refs: readonly BackendRef[],
  from: RefOrigin,
  ctx: RouteContext,
): Pick<HttpRoute, 'destinations' | 'directResponse'> {
  const targets = refs.map((b) => backendTarget(b, from, ctx));
  const resolved = targets.filter((t): t is NonNullable<typeof t> => t !== undefined && t.weight > 0);
  if (resolved.length === 0) return { directResponse: { status: 500 } };
  for (const t of resolved) ctx.needCluster(t.host, t.port, undefined);
  // Gateway API weights are relative (the unresolved refs' share answers 500, which the model
  // cannot split off: it goes to the resolved ones); the model's are percentages.
  const total = resolved.reduce((s, d) => s + d.weight, 0);
  return {
    destinations: resolved.map((d) => ({
      host: d.host,
      port: d.port,
      weight: resolved.length === 1 ? 100 : (d.weight * 100) / total,
      cluster: clusterName(d.host, d.port),
    })),
  };
}

/** The filters GRPCRoute shares with HTTPRoute: header modifiers and the mirror. */
export function commonFilters(
  filters: readonly CommonFilter[],
  from: RefOrigin,
  ctx: RouteContext,
): Partial<HttpRoute> {
  const filter = (type: string): CommonFilter | undefined => filters.find((f) => f.type === type);
  const mirrorRef = filter('RequestMirror')?.requestMirror?.backendRef;
  const mirrorTarget = mirrorRef ? backendTarget(mirrorRef, from, ctx) : undefined;
  if (mirrorTarget) ctx.needCluster(mirrorTarget.host, mirrorTarget.port, undefined);
  return compact({
    mirror: mirrorTarget
      ? { host: mirrorTarget.host, port: mirrorTarget.port, cluster: clusterName(mirrorTarget.host, mirrorTarget.port) }
      : undefined,
    headers: compact({
      request: headerModifier(filter('RequestHeaderModifier')?.requestHeaderModifier),
      response: headerModifier(filter('ResponseHeaderModifier')?.responseHeaderModifier),
    }),
  });
}

function translateMatch(m: NonNullable<HttpRouteRule['matches']>[number]): HttpMatch {
  const path = m.path;
  return compact({
    uri: path ? { type: PATH_TYPE[path.type ?? 'PathPrefix'] ?? 'prefix', value: path.value ?? '/' } : undefined,
    method: m.method ? { type: 'exact', value: m.method } : undefined,
    headers: valueMatches(m.headers, true),
    queryParams: valueMatches(m.queryParams, false),
  });
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One match of a rule as its own route, with what orders it (Gateway API route precedence). */
export interface GammaEntry {
  readonly route: HttpRoute;
  /** The match as written, which ranks the route (its path may have been expanded). */
  readonly rank: HttpMatch | undefined;
  /** `creationTimestamp|ns/name` of the route object: older first, then by name. */
  readonly age: string;
  readonly rule: number;
}

/**
 * The waypoint's forms of one written match, each with the rewrite path it needs. Gateway API's
 * PathPrefix matches whole path elements (`/api` matches `/api` and `/api/x`, not `/apix`; a
 * trailing `/` is ignored): the exact path, and the prefix with its `/`. ReplacePrefixMatch
 * replaces the matched elements; ReplaceFullPath replaces the whole path (a regex match, which
 * the waypoint's rewrite replaces entirely).
 */
function pathForms(
  match: HttpMatch,
  rewrite: { prefix?: string; full?: string },
): Array<{ match: HttpMatch; rewriteUri?: string }> {
  const uri = match.uri;
  const full = rewrite.full;
  if (uri?.type !== 'prefix') {
    return [
      {
        match: full !== undefined && !uri ? { ...match, uri: { type: 'regex', value: '/.*' } } : match,
        rewriteUri: full ?? rewrite.prefix,
      },
    ];
  }
  const base = uri.value.replace(/\/+$/, '');
  if (base === '') {
    return [
      {
        match: full !== undefined ? { ...match, uri: { type: 'regex', value: '/.*' } } : match,
        rewriteUri: full ?? rewrite.prefix,
      },
    ];
  }
  const under: StringMatch =
    full !== undefined ? { type: 'regex', value: `${escapeRegex(base)}/.*` } : { type: 'prefix', value: `${base}/` };
  const repl = rewrite.prefix;
  return [
    { match: { ...match, uri: { type: 'exact', value: base } }, rewriteUri: full ?? repl },
    {
      match: { ...match, uri: under },
      rewriteUri: full ?? (repl === undefined || repl.endsWith('/') ? repl : `${repl}/`),
    },
  ];
}

/** One HTTPRoute rule → one route per match (per path form), ranked by the match as written. */
export function translateRule(
  route: HttpRouteObject,
  index: number,
  rule: HttpRouteRule,
  ctx: RouteContext,
  grants: ReferenceGrants,
  age = '',
): GammaEntry[] {
  const ns = route.metadata.namespace ?? 'default';
  const from: RefOrigin = { kind: 'HTTPRoute', namespace: ns, grants };
  const filters = rule.filters ?? [];
  const filter = (type: string): Filter | undefined => filters.find((f) => f.type === type);
  const redirect = filter('RequestRedirect')?.requestRedirect;
  const rewrite = filter('URLRewrite')?.urlRewrite;
  const rewritePath = rewrite?.path;
  const redirectPath = redirect?.path;
  const timeouts = rule.timeouts;
  // One try per request (HTTPRoute has no retries here): the backend request's timeout caps the request's.
  const timeoutMs = [timeouts?.request, timeouts?.backendRequest]
    .map((t) => (t ? parseDurationMs(t) : undefined))
    .filter((t): t is number => t !== undefined && t > 0)
    .reduce<number | undefined>((a, b) => (a === undefined ? b : Math.min(a, b)), undefined);
  const actions = compact({
    source: `HTTPRoute/${ns}/${route.metadata.name}`,
    ...(redirect ? {} : backendDestinations(rule.backendRefs ?? [], from, ctx)),
    redirect: redirect
      ? compact({
          scheme: redirect.scheme,
          authority: redirect.hostname,
          port: redirect.port,
          uri: redirectPath?.replaceFullPath ?? redirectPath?.replacePrefixMatch,
          code: redirect.statusCode ?? 302,
        })
      : undefined,
    ...commonFilters(filters, from, ctx),
    timeoutMs,
  });
  const written = (rule.matches ?? []).map(translateMatch);
  const rewriteWith = { prefix: rewritePath?.replacePrefixMatch, full: rewritePath?.replaceFullPath };
  type Form = { match: HttpMatch; rewriteUri?: string; rank: HttpMatch | undefined };
  const forms: Form[] =
    written.length > 0
      ? written.flatMap((m) => pathForms(m, rewriteWith).map((f) => ({ ...f, rank: m })))
      : pathForms({}, rewriteWith).map((f) => ({ ...f, rank: undefined }));
  return forms.map((f, j) => {
    const matches = f.rank === undefined && f.match.uri === undefined ? [] : [f.match];
    const rewriteFields = rewrite ? compact({ uri: f.rewriteUri, authority: rewrite.hostname }) : undefined;
    return {
      route: compact({
        ...actions,
        name: `${ns}/${route.metadata.name}#${index}${forms.length > 1 ? `.${j}` : ''}`,
        matches,
        rewrite: rewriteFields,
      }) as HttpRoute,
      rank: f.rank,
      age,
      rule: index,
    };
  });
}

const URI_RANK: Record<StringMatch['type'], number> = { exact: 3, prefix: 2, regex: 1 };

/**
 * Istio's order for Gateway API routes: exact path, then prefix, then regex (longer first within
 * each), then a method match, more header matches, more query matches; ties go to the older
 * route, then the name, then rule order. A rule without matches (everything) comes last.
 */
export function compareGamma(a: GammaEntry, b: GammaEntry): number {
  const ma = a.rank;
  const mb = b.rank;
  if (!ma || !mb) {
    if (ma !== mb) return ma ? -1 : 1;
  } else {
    const rank = (m: HttpMatch): [number, number] => (m.uri ? [URI_RANK[m.uri.type], m.uri.value.length] : [2, 1]);
    const [ra, la] = rank(ma);
    const [rb, lb] = rank(mb);
    if (ra !== rb) return rb - ra;
    if (la !== lb) return lb - la;
    if (!ma.method !== !mb.method) return ma.method ? -1 : 1;
    const count = (r?: Readonly<Record<string, unknown>>): number => (r ? Object.keys(r).length : 0);
    if (count(ma.headers) !== count(mb.headers)) return count(mb.headers) - count(ma.headers);
    if (count(ma.queryParams) !== count(mb.queryParams)) return count(mb.queryParams) - count(ma.queryParams);
  }
  if (a.age !== b.age) return a.age < b.age ? -1 : 1;
  return a.rule - b.rule;
}

export function ageKey(r: HttpRouteObject | GrpcRoute): string {
  const created = r.metadata.creationTimestamp ?? '';
  return `${created}|${r.metadata.namespace ?? 'default'}/${r.metadata.name}`;
}

/** A rule's route split per match (each keeps the rule's actions), ranked by its own match. */
export function splitMatches(route: HttpRoute, age: string, rule: number): GammaEntry[] {
  if (route.matches.length <= 1) return [{ route, rank: route.matches[0], age, rule }];
  return route.matches.map((m, j) => ({
    route: { ...route, name: `${route.name ?? ''}.${j}`, matches: [m] },
    rank: m,
    age,
    rule,
  }));
}

/** Whether a Gateway API route has a parentRef naming this Service (and port, when it names one). */
export function attachesToService(r: HttpRouteObject | GrpcRoute, svc: Service, port: number): boolean {
  return (r.spec.parentRefs ?? []).some(
    (p) =>
      (p.kind ?? 'Gateway') === 'Service' &&
      (p.group ?? '') !== 'networking.istio.io' &&
      p.name === svc.name &&
      (p.namespace ?? r.metadata.namespace ?? 'default') === svc.namespace &&
      (p.port === undefined || p.port === port),
  );
}

export function httpRouteRoutes(inv: Inventory): {
  routesFor(svc: Service, ctx: RouteContext): HttpRoute[] | undefined;
} {
  const grants = new ReferenceGrants(inv.referenceGrants);
  return {
    routesFor(svc, ctx) {
      const entries: GammaEntry[] = [];
      for (const r of inv.httpRoutes) {
        if (!attachesToService(r, svc, ctx.port)) continue;
        (r.spec.rules ?? []).forEach((rule, i) => entries.push(...translateRule(r, i, rule, ctx, grants, ageKey(r))));
      }
      for (const r of inv.grpcRoutes) {
        if (!attachesToService(r, svc, ctx.port)) continue;
        (r.spec.rules ?? []).forEach((rule, i) =>
          entries.push(...splitMatches(translateGrpcRule(r, i, rule, ctx, grants), ageKey(r), i)),
        );
      }
      if (entries.length === 0) return undefined;
      return entries.sort(compareGamma).map((e) => e.route);
    },
  };
}
