// VirtualService → ordered HttpRoutes for one service host+port. Hosts: short names resolve
// in the VS namespace, FQDNs as written, `*.suffix` wildcards. The most specific host match
// wins; VirtualServices with equally specific hosts are merged in creation order (then
// namespace/name). First matching route wins at run time, so order is preserved.
import { byKey, compact } from './collections.js';
import { hostMatches, hostMatchRank, resolveHost } from '../../core/mesh/hosts.js';
import { parseDurationMs } from './validate/common.js';
import { visibleFrom } from './sidecar.js';
import { exportToOf } from './services.js';
import { corsPolicyOf } from './cors-policy.js';
import { stringMatch } from './string-match.js';
import { delegatedRoutes, gatewayRef } from './vs-delegates.js';
import type { Inventory } from './inventory.js';
import type {
  DestinationSpec,
  HeadersSpec,
  HttpMatchSpec,
  HttpRouteSpec,
  RouteDestinationSpec,
  StringMatchSpec,
  VirtualServiceObject,
} from './virtual-service-spec.js';
import { clusterName } from '../../core/model/l7.js';
import type {
  HeaderEdits,
  HeaderOperations,
  HttpMatch,
  HttpRoute,
  RouteDestination,
  StringMatch,
} from '../../core/model/l7.js';
import type { Service } from '../../core/model/types.js';

export interface VsEntry {
  readonly obj: VirtualServiceObject;
  readonly ns: string;
  readonly key: string;
  readonly hosts: readonly string[];
  /** Resolved `ns/name` of bound gateways, or `mesh`. Empty list = mesh. */
  readonly gateways: readonly string[];
  readonly exportTo: readonly string[];
  readonly created: string;
}

export function indexVirtualServices(inv: Inventory, domain: string): VsEntry[] {
  return inv.virtualServices
    .map((obj) => {
      const ns = obj.metadata.namespace ?? 'default';
      const { spec } = obj;
      const created = (obj.metadata as { creationTimestamp?: unknown }).creationTimestamp;
      return {
        obj,
        ns,
        key: `${ns}/${obj.metadata.name}`,
        hosts: (spec.hosts ?? []).map((h) => resolveHost(h, ns, domain)),
        gateways: (spec.gateways ?? []).map((g) => gatewayRef(g, ns)),
        exportTo: exportToOf(spec.exportTo, ns),
        created: typeof created === 'string' ? created : '',
      };
    })
    .sort(byKey((e) => `${e.created}|${e.key}`));
}

/** VirtualServices by exact host, plus the wildcard ones, keeping creation order. */
export class VsIndex {
  private readonly exact = new Map<string, VsEntry[]>();
  private readonly wildcard: VsEntry[] = [];
  private readonly position = new Map<VsEntry, number>();
  /** VirtualServices without hosts, by `ns/name`: only a root's `http[].delegate` uses them. */
  private readonly delegates = new Map<string, VsEntry>();
  constructor(readonly entries: readonly VsEntry[]) {
    entries.forEach((e, i) => {
      this.position.set(e, i);
      if (e.hosts.length === 0) this.delegates.set(e.key, e);
      if (e.hosts.some((h) => h.startsWith('*'))) this.wildcard.push(e);
      for (const h of new Set(e.hosts)) {
        if (h.startsWith('*')) continue;
        const list = this.exact.get(h);
        if (list) list.push(e);
        else this.exact.set(h, [e]);
      }
    });
  }

  /** The delegate VirtualService `ns/name`, if it exists and is exported to `clientNs`. */
  delegate(key: string, clientNs: string): VsEntry | undefined {
    const e = this.delegates.get(key);
    return e && visibleFrom(e.exportTo, e.ns, clientNs) ? e : undefined;
  }

  /** Entries that may match `host`, in creation order. */
  candidates(host: string): readonly VsEntry[] {
    if (host.startsWith('*')) return this.entries;
    const exact = this.exact.get(host) ?? [];
    if (this.wildcard.length === 0) return exact;
    const all = new Set([...exact, ...this.wildcard]);
    return [...all].sort((a, b) => (this.position.get(a) ?? 0) - (this.position.get(b) ?? 0));
  }
}

/** The VirtualServices that route `host` for `gateway` (`mesh` or `ns/name`) seen from `clientNs`. */
export function virtualServicesFor(index: VsIndex, host: string, gateway: string, clientNs: string): VsEntry[] {
  const bound = index
    .candidates(host)
    .filter(
      (e) =>
        (e.gateways.length === 0 ? gateway === 'mesh' : e.gateways.includes(gateway)) &&
        (gateway !== 'mesh' || visibleFrom(e.exportTo, e.ns, clientNs)),
    );
  let best = -1;
  const ranked = bound.map((e) => {
    let rank = -1;
    for (const h of e.hosts) if (hostMatches(h, host)) rank = Math.max(rank, hostMatchRank(h, host));
    if (rank > best) best = rank;
    return { e, rank };
  });
  return best < 0 ? [] : ranked.filter((r) => r.rank === best).map((r) => r.e);
}

function matchMap(
  spec: Readonly<Record<string, StringMatchSpec>> | undefined,
  lowerCase: boolean,
): Record<string, StringMatch> | undefined {
  if (!spec) return undefined;
  const out: Record<string, StringMatch> = {};
  for (const [k, v] of Object.entries(spec)) {
    const m = stringMatch(v);
    if (m) out[lowerCase ? k.toLowerCase() : k] = m;
  }
  return out;
}

function headerOps(spec: HeadersSpec['request']): HeaderOperations | undefined {
  return spec ? compact({ set: spec.set, add: spec.add, remove: spec.remove }) : undefined;
}

export function headerEdits(spec: HeadersSpec | undefined): HeaderEdits | undefined {
  return spec ? compact({ request: headerOps(spec.request), response: headerOps(spec.response) }) : undefined;
}

const percentOf = (p: { readonly value?: number } | undefined, fallback = 100): number => p?.value ?? fallback;

export interface RouteContext {
  readonly domain: string;
  /** FQDN → service (K8s Service or ServiceEntry host). */
  readonly services: ReadonlyMap<string, Service>;
  /** Port the route is built for (the virtual host's port). */
  readonly port: number;
  /** `mesh` (waypoints, the default) or the `ns/name` of the Istio Gateway being built. */
  readonly gateway?: string;
  /** Called for every (host, port, subset) a route can reach. */
  readonly needCluster: (host: string, port: number, subset: string | undefined) => void;
}

/** Destination port: explicit, else the service's only port, else the virtual host's port. */
export function destinationPort(
  portSelector: { readonly number?: number } | undefined,
  host: string,
  ctx: RouteContext,
): number {
  const explicit = portSelector?.number;
  if (explicit !== undefined) return explicit;
  const svc = ctx.services.get(host);
  if (svc && svc.ports.length === 1 && svc.ports[0]) return svc.ports[0].port;
  return ctx.port;
}

function translateMatch(m: HttpMatchSpec): HttpMatch {
  return compact({
    name: m.name,
    uri: stringMatch(m.uri),
    scheme: stringMatch(m.scheme),
    method: stringMatch(m.method),
    authority: stringMatch(m.authority),
    headers: matchMap(m.headers, true),
    withoutHeaders: matchMap(m.withoutHeaders, true),
    queryParams: matchMap(m.queryParams, false),
    ignoreUriCase: m.ignoreUriCase,
    sourceLabels: m.sourceLabels,
    sourceNamespace: m.sourceNamespace,
    port: m.port,
  });
}

/** The cluster a destination (or mirror) needs, registered with the context. */
function destinationTarget(vs: VsEntry, d: DestinationSpec, ctx: RouteContext) {
  const host = resolveHost(d.host, vs.ns, ctx.domain);
  const port = destinationPort(d.port, host, ctx);
  ctx.needCluster(host, port, d.subset);
  return { host, subset: d.subset, port, cluster: clusterName(host, port, d.subset) };
}

/** Weighted destinations of one route (`http[]`, `tcp[]` or `tls[]`); a lone destination weighs 100 unless set. */
export function routeDestinations(
  vs: VsEntry,
  routes: readonly (RouteDestinationSpec & { readonly headers?: HeadersSpec })[],
  ctx: RouteContext,
): RouteDestination[] {
  return routes.map((dw) => {
    const { host, subset, port, cluster } = destinationTarget(vs, dw.destination, ctx);
    return compact({
      host,
      subset,
      port,
      weight: dw.weight ?? (routes.length === 1 ? 100 : 0),
      cluster,
      headers: headerEdits(dw.headers),
    });
  });
}

/** Whether a `match[]` block applies to the gateway being built (`match[].gateways`, short names in the VS namespace). */
export function matchForGateway(vs: VsEntry, m: { readonly gateways?: readonly string[] }, gateway: string): boolean {
  return m.gateways === undefined || m.gateways.some((g) => gatewayRef(g, vs.ns) === gateway);
}

type RetriesSpec = NonNullable<HttpRouteSpec['retries']>;
type FaultSpec = NonNullable<HttpRouteSpec['fault']>;

function retryPolicy(retries: RetriesSpec): NonNullable<HttpRoute['retries']> {
  return compact({
    attempts: retries.attempts ?? 0,
    perTryTimeoutMs: retries.perTryTimeout !== undefined ? parseDurationMs(retries.perTryTimeout) : undefined,
    retryOn: (retries.retryOn ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    retryRemoteLocalities: retries.retryRemoteLocalities,
  });
}

function faultInjection({ abort, delay }: FaultSpec): NonNullable<HttpRoute['fault']> {
  return compact({
    abort:
      abort?.httpStatus !== undefined
        ? { httpStatus: abort.httpStatus, percentage: percentOf(abort.percentage) }
        : undefined,
    delay:
      delay?.fixedDelay !== undefined
        ? {
            fixedDelayMs: parseDurationMs(delay.fixedDelay) ?? 0,
            percentage: delay.percentage !== undefined ? percentOf(delay.percentage) : (delay.percent ?? 100),
          }
        : undefined,
  });
}

/** One VS `http[]` entry for the context's port, or undefined when its matches exclude the port. */
export function translateHttpRoute(
  vs: VsEntry,
  index: number | string,
  spec: HttpRouteSpec,
  ctx: RouteContext,
): HttpRoute | undefined {
  const specMatches = spec.match ?? [];
  const gateway = ctx.gateway ?? 'mesh';
  const matches = specMatches
    .filter((m) => (m.port === undefined || m.port === ctx.port) && matchForGateway(vs, m, gateway))
    .map(translateMatch);
  if (specMatches.length > 0 && matches.length === 0) return undefined;
  const { redirect, directResponse, rewrite } = spec;
  const mirror = spec.mirror ? compact(destinationTarget(vs, spec.mirror, ctx)) : undefined;
  return compact({
    source: vs.key,
    name: spec.name ?? `${vs.key}#${index}`,
    matches,
    destinations: spec.route && spec.route.length > 0 ? routeDestinations(vs, spec.route, ctx) : undefined,
    redirect: redirect
      ? compact({
          uri: redirect.uri,
          authority: redirect.authority,
          scheme: redirect.scheme,
          port: redirect.port,
          code: redirect.redirectCode ?? 301,
        })
      : undefined,
    directResponse: directResponse
      ? compact({ status: directResponse.status, body: directResponse.body?.string ?? directResponse.body?.bytes })
      : undefined,
    rewrite: rewrite ? compact({ uri: rewrite.uri, authority: rewrite.authority }) : undefined,
    mirror,
    mirrorPercentage: mirror
      ? spec.mirrorPercentage !== undefined
        ? percentOf(spec.mirrorPercentage)
        : (spec.mirror_percent ?? 100)
      : undefined,
    headers: headerEdits(spec.headers),
    corsPolicy: corsPolicyOf(spec.corsPolicy),
    timeoutMs: spec.timeout ? parseDurationMs(spec.timeout) : undefined,
    retries: spec.retries ? retryPolicy(spec.retries) : undefined,
    fault: spec.fault ? faultInjection(spec.fault) : undefined,
  });
}

/**
 * `http[i]` of a VirtualService with its default-name index, or, for a route with `delegate`,
 * the delegate's routes merged into it (none when the delegate is missing or not exported to
 * the root's namespace: Istio then skips that route alone).
 */
function withDelegates(
  index: VsIndex,
  vs: VsEntry,
  i: number,
  spec: HttpRouteSpec,
  domain: string,
): [number | string, HttpRouteSpec][] {
  if (!spec.delegate) return [[i, spec]];
  const ref = `${spec.delegate.namespace ?? vs.ns}/${spec.delegate.name ?? ''}`;
  const delegate = index.delegate(ref, vs.ns);
  if (!delegate) return [];
  return delegatedRoutes(spec, vs.ns, delegate.obj, domain).map((r, j) => [`${i}/${ref}#${j}`, r]);
}

/** Routes for (host, port): merged VirtualServices, else the implicit default route. */
export function routesFor(
  index: VsIndex,
  host: string,
  gateway: string,
  clientNs: string,
  ctx: RouteContext,
): HttpRoute[] {
  const vss = virtualServicesFor(index, host, gateway, clientNs);
  const routes: HttpRoute[] = [];
  for (const vs of vss) {
    (vs.obj.spec.http ?? []).forEach((spec, i) => {
      for (const [name, route] of withDelegates(index, vs, i, spec, ctx.domain)) {
        const r = translateHttpRoute(vs, name, route, ctx);
        if (r) routes.push(r);
      }
    });
  }
  if (vss.length > 0 || gateway !== 'mesh') return routes;
  ctx.needCluster(host, ctx.port, undefined);
  return [
    {
      source: 'default',
      name: 'default',
      matches: [],
      destinations: [{ host, port: ctx.port, weight: 100, cluster: clusterName(host, ctx.port) }],
    },
  ];
}

function exportsOverlap(a: readonly string[], b: readonly string[]): boolean {
  return a.includes('*') || b.includes('*') || a.some((ns) => b.includes(ns));
}

/**
 * On the mesh, Istio uses one VirtualService per host (IST0109): the oldest wins and a later
 * one for the same host, visible in the same namespaces, is rejected. Gateways merge instead.
 */
export function meshConflictsRemoved(
  entries: readonly VsEntry[],
  reject: (vs: VsEntry, field: string, reason: string) => void,
): VsEntry[] {
  const kept: VsEntry[] = [];
  for (const vs of entries) {
    const onMesh = vs.gateways.length === 0 || vs.gateways.includes('mesh');
    const conflict = onMesh
      ? vs.hosts
          .map((h, i) => ({ h, i }))
          .map(({ h, i }) => ({
            i,
            h,
            other: kept.find(
              (k) =>
                (k.gateways.length === 0 || k.gateways.includes('mesh')) &&
                k.hosts.includes(h) &&
                exportsOverlap(k.exportTo, vs.exportTo),
            ),
          }))
          .find((c) => c.other)
      : undefined;
    if (conflict?.other) {
      reject(
        vs,
        `spec.hosts[${conflict.i}]`,
        `host ${conflict.h} is already routed on the mesh by VirtualService ${conflict.other.key} (older); merge them into one (Istio IST0109)`,
      );
      continue;
    }
    kept.push(vs);
  }
  return kept;
}
