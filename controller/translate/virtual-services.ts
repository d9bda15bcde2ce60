// VirtualService → ordered HttpRoutes for one service host+port. Hosts: short names resolve
// in the VS namespace, FQDNs as written, `*.suffix` wildcards. The most specific host match
// wins; VirtualServices with equally specific hosts are merged in creation order (then
// namespace/name). First matching route wins at run time, so order is preserved.
import { byKey, compact, num, rec, recs, str, strs, stringMap, type Raw } from './raw.js';
import { hostMatches, hostMatchRank, resolveHost } from '../../core/mesh/hosts.js';
import { parseDurationMs } from './validate/common.js';
import { visibleFrom } from './sidecar.js';
import { exportToOf } from './services.js';
import { corsPolicyOf } from './cors-policy.js';
import { stringMatch } from './string-match.js';
import type { Inventory } from './inventory.js';
import type { KubeObject } from '../sources/types.js';
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
  readonly obj: KubeObject;
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
      const spec = rec(obj.spec) ?? {};
      return {
        obj,
        ns,
        key: `${ns}/${obj.metadata.name}`,
        hosts: strs(spec.hosts).map((h) => resolveHost(h, ns, domain)),
        gateways: strs(spec.gateways).map((g) => (g === 'mesh' || g.includes('/') ? g : `${ns}/${g}`)),
        exportTo: exportToOf(Array.isArray(spec.exportTo) ? strs(spec.exportTo) : undefined, ns),
        created: str((obj.metadata as { creationTimestamp?: unknown }).creationTimestamp) ?? '',
      };
    })
    .sort(byKey((e) => `${e.created}|${e.key}`));
}

/** VirtualServices by exact host, plus the wildcard ones, keeping creation order. */
export class VsIndex {
  private readonly exact = new Map<string, VsEntry[]>();
  private readonly wildcard: VsEntry[] = [];
  private readonly position = new Map<VsEntry, number>();
  constructor(readonly entries: readonly VsEntry[]) {
    entries.forEach((e, i) => {
      this.position.set(e, i);
      if (e.hosts.some((h) => h.startsWith('*'))) this.wildcard.push(e);
      for (const h of new Set(e.hosts)) {
        if (h.startsWith('*')) continue;
        const list = this.exact.get(h);
        if (list) list.push(e);
        else this.exact.set(h, [e]);
      }
    });
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

function matchMap(raw: unknown, lowerCase: boolean): Record<string, StringMatch> | undefined {
  const r = rec(raw);
  if (!r) return undefined;
  const out: Record<string, StringMatch> = {};
  for (const [k, v] of Object.entries(r)) {
    const m = stringMatch(v);
    if (m) out[lowerCase ? k.toLowerCase() : k] = m;
  }
  return out;
}

function headerOps(raw: unknown): HeaderOperations | undefined {
  const r = rec(raw);
  if (!r) return undefined;
  return compact({
    set: r.set ? stringMap(r.set) : undefined,
    add: r.add ? stringMap(r.add) : undefined,
    remove: Array.isArray(r.remove) ? strs(r.remove) : undefined,
  });
}

export function headerEdits(raw: unknown): HeaderEdits | undefined {
  const r = rec(raw);
  return r ? compact({ request: headerOps(r.request), response: headerOps(r.response) }) : undefined;
}

const percentOf = (p: unknown, fallback = 100): number => num(rec(p)?.value) ?? fallback;

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
export function destinationPort(raw: Raw, host: string, ctx: RouteContext): number {
  const explicit = num(rec(raw.port)?.number);
  if (explicit !== undefined) return explicit;
  const svc = ctx.services.get(host);
  if (svc && svc.ports.length === 1 && svc.ports[0]) return svc.ports[0].port;
  return ctx.port;
}

function translateMatch(m: Raw): HttpMatch {
  return compact({
    name: str(m.name),
    uri: stringMatch(m.uri),
    scheme: stringMatch(m.scheme),
    method: stringMatch(m.method),
    authority: stringMatch(m.authority),
    headers: matchMap(m.headers, true),
    withoutHeaders: matchMap(m.withoutHeaders, true),
    queryParams: matchMap(m.queryParams, false),
    ignoreUriCase: typeof m.ignoreUriCase === 'boolean' ? m.ignoreUriCase : undefined,
    sourceLabels: m.sourceLabels ? stringMap(m.sourceLabels) : undefined,
    sourceNamespace: str(m.sourceNamespace),
    port: num(m.port),
  });
}

/** Weighted destinations of one route (`http[]`, `tcp[]` or `tls[]`); a lone destination weighs 100 unless set. */
export function routeDestinations(vs: VsEntry, rawRoutes: readonly Raw[], ctx: RouteContext): RouteDestination[] {
  return rawRoutes.map((dw) => {
    const d = rec(dw.destination) ?? {};
    const host = resolveHost(str(d.host) ?? '', vs.ns, ctx.domain);
    const port = destinationPort(d, host, ctx);
    const subset = str(d.subset);
    ctx.needCluster(host, port, subset);
    return compact({
      host,
      subset,
      port,
      weight: rawRoutes.length === 1 ? (num(dw.weight) ?? 100) : (num(dw.weight) ?? 0),
      cluster: clusterName(host, port, subset),
      headers: headerEdits(dw.headers),
    });
  });
}

/** Whether a `match[]` block applies to the gateway being built (`match[].gateways`, short names in the VS namespace). */
export function matchForGateway(vs: VsEntry, m: Raw, gateway: string): boolean {
  return (
    !Array.isArray(m.gateways) ||
    strs(m.gateways).some((g) => (g === 'mesh' || g.includes('/') ? g : `${vs.ns}/${g}`) === gateway)
  );
}

/** One VS `http[]` entry for the context's port, or undefined when its matches exclude the port. */
export function translateHttpRoute(vs: VsEntry, index: number, raw: Raw, ctx: RouteContext): HttpRoute | undefined {
  const rawMatches = recs(raw.match);
  const gateway = ctx.gateway ?? 'mesh';
  const matches = rawMatches
    .filter((m) => (num(m.port) === undefined || num(m.port) === ctx.port) && matchForGateway(vs, m, gateway))
    .map(translateMatch);
  if (rawMatches.length > 0 && matches.length === 0) return undefined;
  const rawRoutes = recs(raw.route);
  const destinations = rawRoutes.length > 0 ? routeDestinations(vs, rawRoutes, ctx) : undefined;
  const redirect = rec(raw.redirect);
  const directResponse = rec(raw.directResponse);
  const rewrite = rec(raw.rewrite);
  const mirrorRaw = rec(raw.mirror);
  let mirror: HttpRoute['mirror'];
  if (mirrorRaw) {
    const host = resolveHost(str(mirrorRaw.host) ?? '', vs.ns, ctx.domain);
    const port = destinationPort(mirrorRaw, host, ctx);
    const subset = str(mirrorRaw.subset);
    ctx.needCluster(host, port, subset);
    mirror = compact({ host, subset, port, cluster: clusterName(host, port, subset) });
  }
  const retries = rec(raw.retries);
  const fault = rec(raw.fault);
  const abort = rec(fault?.abort);
  const delay = rec(fault?.delay);
  const timeout = str(raw.timeout);
  return compact({
    source: vs.key,
    name: str(raw.name) ?? `${vs.key}#${index}`,
    matches,
    destinations,
    redirect: redirect
      ? compact({
          uri: str(redirect.uri),
          authority: str(redirect.authority),
          scheme: str(redirect.scheme),
          port: num(redirect.port),
          code: num(redirect.redirectCode) ?? 301,
        })
      : undefined,
    directResponse: directResponse
      ? compact({
          status: num(directResponse.status) ?? 200,
          body: str(rec(directResponse.body)?.string) ?? str(rec(directResponse.body)?.bytes),
        })
      : undefined,
    rewrite: rewrite ? compact({ uri: str(rewrite.uri), authority: str(rewrite.authority) }) : undefined,
    mirror,
    mirrorPercentage: mirror
      ? raw.mirrorPercentage !== undefined
        ? percentOf(raw.mirrorPercentage)
        : (num(raw.mirror_percent) ?? 100)
      : undefined,
    headers: headerEdits(raw.headers),
    corsPolicy: corsPolicyOf(raw.corsPolicy),
    timeoutMs: timeout ? parseDurationMs(timeout) : undefined,
    retries: retries
      ? compact({
          attempts: num(retries.attempts) ?? 0,
          perTryTimeoutMs:
            typeof retries.perTryTimeout === 'string' ? parseDurationMs(retries.perTryTimeout) : undefined,
          retryOn: (str(retries.retryOn) ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
          retryRemoteLocalities:
            typeof retries.retryRemoteLocalities === 'boolean' ? retries.retryRemoteLocalities : undefined,
        })
      : undefined,
    fault: fault
      ? compact({
          abort:
            abort && num(abort.httpStatus) !== undefined
              ? {
                  httpStatus: num(abort.httpStatus) as number,
                  percentage: abort.percentage !== undefined ? percentOf(abort.percentage) : 100,
                }
              : undefined,
          delay:
            delay && typeof delay.fixedDelay === 'string'
              ? {
                  fixedDelayMs: parseDurationMs(delay.fixedDelay) ?? 0,
                  percentage:
                    delay.percentage !== undefined ? percentOf(delay.percentage) : (num(delay.percent) ?? 100),
                }
              : undefined,
        })
      : undefined,
  });
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
    recs(rec(vs.obj.spec)?.http).forEach((raw, i) => {
      const r = translateHttpRoute(vs, i, raw, ctx);
      if (r) routes.push(r);
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

/** Subset references that no DestinationRule defines: `spec.http[i].route[j].destination.subset`. */
export function unknownSubsets(
  vs: VsEntry,
  domain: string,
  subsetsOf: (host: string, vsNs: string) => readonly string[],
): { field: string; reason: string }[] {
  const out: { field: string; reason: string }[] = [];
  recs(rec(vs.obj.spec)?.http).forEach((route, i) => {
    const check = (d: Raw | undefined, field: string): void => {
      const subset = str(d?.subset);
      if (!d || !subset) return;
      const host = resolveHost(str(d.host) ?? '', vs.ns, domain);
      const known = subsetsOf(host, vs.ns);
      if (!known.includes(subset)) {
        out.push({
          field,
          reason: `subset "${subset}" of host ${host} is not defined by any DestinationRule${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`,
        });
      }
    };
    recs(route.route).forEach((dw, j) => check(rec(dw.destination), `spec.http[${i}].route[${j}].destination.subset`));
    check(rec(route.mirror), `spec.http[${i}].mirror.subset`);
  });
  return out;
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
