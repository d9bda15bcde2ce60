// Gateway API HTTPRoute (minimal, GAMMA style: parentRefs to a Service) → HttpRoutes for
// that service's waypoint. When an HTTPRoute targets a service it replaces VirtualServices
// for it (Istio ambient gives HTTPRoute precedence on waypoints). Supported: path
// Exact/PathPrefix/RegularExpression, headers, queryParams, method; backendRefs with weight
// and port; filters RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect,
// URLRewrite, RequestMirror; timeouts.request.
import { byKey, compact, num, rec, recs, str, strs, type Raw } from './raw.js';
import { parseDurationMs } from './validate/common.js';
import { destinationPort, type RouteContext } from './virtual-services.js';
import type { Inventory } from './inventory.js';
import type { KubeObject } from '../sources/types.js';
import { clusterName } from '../../core/model/l7.js';
import type { HeaderOperations, HttpMatch, HttpRoute, RouteDestination, StringMatch } from '../../core/model/l7.js';
import type { Service } from '../../core/model/types.js';

const PATH_TYPE: Record<string, StringMatch['type']> = {
  Exact: 'exact',
  PathPrefix: 'prefix',
  RegularExpression: 'regex',
};

function valueMatches(list: unknown, lower: boolean): Record<string, StringMatch> | undefined {
  const items = recs(list);
  if (items.length === 0) return undefined;
  return Object.fromEntries(
    items.map((h) => [
      lower ? (str(h.name) ?? '').toLowerCase() : (str(h.name) ?? ''),
      { type: str(h.type) === 'RegularExpression' ? 'regex' : 'exact', value: str(h.value) ?? '' } as StringMatch,
    ]),
  );
}

function headerModifier(raw: Raw | undefined): HeaderOperations | undefined {
  if (!raw) return undefined;
  const toMap = (l: unknown): Record<string, string> | undefined =>
    Array.isArray(l) ? Object.fromEntries(recs(l).map((h) => [str(h.name) ?? '', str(h.value) ?? ''])) : undefined;
  return compact({
    set: toMap(raw.set),
    add: toMap(raw.add),
    remove: Array.isArray(raw.remove) ? strs(raw.remove) : undefined,
  });
}

export function translateRule(route: KubeObject, index: number, rule: Raw, ctx: RouteContext): HttpRoute {
  const ns = route.metadata.namespace ?? 'default';
  const matches: HttpMatch[] = recs(rule.matches).map((m) => {
    const path = rec(m.path);
    return compact({
      uri: path
        ? { type: PATH_TYPE[str(path.type) ?? 'PathPrefix'] ?? 'prefix', value: str(path.value) ?? '/' }
        : undefined,
      method: str(m.method) ? { type: 'exact', value: str(m.method) as string } : undefined,
      headers: valueMatches(m.headers, true),
      queryParams: valueMatches(m.queryParams, false),
    });
  });
  const backends = recs(rule.backendRefs);
  const destinations: RouteDestination[] = backends.map((b) => {
    const host = `${str(b.name)}.${str(b.namespace) ?? ns}.svc.${ctx.domain}`;
    const port = num(b.port) ?? destinationPort({}, host, ctx);
    ctx.needCluster(host, port, undefined);
    return { host, port, weight: backends.length === 1 ? 100 : (num(b.weight) ?? 1), cluster: clusterName(host, port) };
  });
  // Gateway API weights are relative; the model's are percentages.
  const total = destinations.reduce((s, d) => s + d.weight, 0);
  const normalised =
    total > 0 && destinations.length > 1
      ? destinations.map((d) => ({ ...d, weight: (d.weight * 100) / total }))
      : destinations;
  const filters = recs(rule.filters);
  const filter = (type: string): Raw | undefined => filters.find((f) => f.type === type);
  const redirect = rec(filter('RequestRedirect')?.requestRedirect);
  const rewrite = rec(filter('URLRewrite')?.urlRewrite);
  const mirrorRef = rec(rec(filter('RequestMirror')?.requestMirror)?.backendRef);
  let mirror: HttpRoute['mirror'];
  if (mirrorRef) {
    const host = `${str(mirrorRef.name)}.${str(mirrorRef.namespace) ?? ns}.svc.${ctx.domain}`;
    const port = num(mirrorRef.port) ?? destinationPort({}, host, ctx);
    ctx.needCluster(host, port, undefined);
    mirror = { host, port, cluster: clusterName(host, port) };
  }
  const rewritePath = rec(rewrite?.path);
  const redirectPath = rec(redirect?.path);
  const timeout = str(rec(rule.timeouts)?.request);
  return compact({
    source: `HTTPRoute/${ns}/${route.metadata.name}`,
    name: `${ns}/${route.metadata.name}#${index}`,
    matches,
    destinations: redirect ? undefined : normalised,
    redirect: redirect
      ? compact({
          scheme: str(redirect.scheme),
          authority: str(redirect.hostname),
          port: num(redirect.port),
          uri: str(redirectPath?.replaceFullPath) ?? str(redirectPath?.replacePrefixMatch),
          code: num(redirect.statusCode) ?? 302,
        })
      : undefined,
    rewrite: rewrite
      ? compact({
          uri: str(rewritePath?.replacePrefixMatch) ?? str(rewritePath?.replaceFullPath),
          authority: str(rewrite.hostname),
        })
      : undefined,
    mirror,
    headers: compact({
      request: headerModifier(rec(filter('RequestHeaderModifier')?.requestHeaderModifier)),
      response: headerModifier(rec(filter('ResponseHeaderModifier')?.responseHeaderModifier)),
    }),
    timeoutMs: timeout ? parseDurationMs(timeout) : undefined,
  });
}

export function httpRouteRoutes(inv: Inventory): {
  routesFor(svc: Service, ctx: RouteContext): HttpRoute[] | undefined;
} {
  const sorted = [...inv.httpRoutes].sort(
    byKey(
      (r) =>
        `${str((r.metadata as { creationTimestamp?: unknown }).creationTimestamp) ?? ''}|${r.metadata.namespace}/${r.metadata.name}`,
    ),
  );
  return {
    routesFor(svc, ctx) {
      const mine = sorted.filter((r) =>
        recs(rec(r.spec)?.parentRefs).some(
          (p) =>
            (str(p.kind) ?? 'Gateway') === 'Service' &&
            str(p.name) === svc.name &&
            (str(p.namespace) ?? r.metadata.namespace ?? 'default') === svc.namespace &&
            (num(p.port) === undefined || num(p.port) === ctx.port),
        ),
      );
      if (mine.length === 0) return undefined;
      return mine.flatMap((r) => recs(rec(r.spec)?.rules).map((rule, i) => translateRule(r, i, rule, ctx)));
    },
  };
}
