// DestinationRule → clusters: the DR for a host is looked up in the client's namespace, then
// the host's namespace, then the root namespace (Istio); subsets select endpoints by labels;
// the effective traffic policy is DR level < DR port level < subset level < subset port level.
import { byKey, bool, compact, labelsMatch, num, rec, recs, str, strs, stringMap, type Raw } from './raw.js';
import { hostMatches, hostMatchRank, resolveHost } from '../../core/mesh/hosts.js';
import { parseDurationMs } from './validate/common.js';
import { visibleFrom } from './sidecar.js';
import { exportToOf } from './services.js';
import type { Inventory } from './inventory.js';
import type { KubeObject } from '../sources/types.js';
import { clusterName } from '../../core/model/l7.js';
import type { Cluster, ClusterEndpoint, TrafficPolicy } from '../../core/model/l7.js';
import type { Labels, Service, Workload } from '../../core/model/types.js';

interface DrEntry {
  readonly obj: KubeObject;
  readonly ns: string;
  readonly host: string;
  readonly exportTo: readonly string[];
  readonly created: string;
}

const ms = (v: unknown): number | undefined => (typeof v === 'string' ? parseDurationMs(v) : undefined);

export function toTrafficPolicy(raw: Raw | undefined): TrafficPolicy {
  if (!raw) return {};
  const lb = rec(raw.loadBalancer);
  const ch = rec(lb?.consistentHash);
  const cookie = rec(ch?.httpCookie);
  const loc = rec(lb?.localityLbSetting);
  const cp = rec(raw.connectionPool);
  const tcp = rec(cp?.tcp);
  const http = rec(cp?.http);
  const od = rec(raw.outlierDetection);
  const tls = rec(raw.tls);
  return compact({
    loadBalancer: lb
      ? compact({
          simple: str(lb.simple) as NonNullable<TrafficPolicy['loadBalancer']>['simple'],
          consistentHash: ch
            ? compact({
                httpHeaderName: str(ch.httpHeaderName),
                httpCookie: cookie
                  ? compact({ name: str(cookie.name) ?? '', path: str(cookie.path), ttlMs: ms(cookie.ttl) })
                  : undefined,
                useSourceIp: bool(ch.useSourceIp),
                httpQueryParameterName: str(ch.httpQueryParameterName),
                minimumRingSize: num(ch.minimumRingSize),
              })
            : undefined,
          localityLbSetting: loc
            ? compact({
                enabled: bool(loc.enabled),
                distribute: Array.isArray(loc.distribute)
                  ? recs(loc.distribute).map((d) => ({
                      from: str(d.from) ?? '',
                      to: Object.fromEntries(Object.entries(rec(d.to) ?? {}).map(([k, v]) => [k, num(v) ?? 0])),
                    }))
                  : undefined,
                failover: Array.isArray(loc.failover)
                  ? recs(loc.failover).map((f) => ({ from: str(f.from) ?? '', to: str(f.to) ?? '' }))
                  : undefined,
                failoverPriority: Array.isArray(loc.failoverPriority) ? strs(loc.failoverPriority) : undefined,
              })
            : undefined,
          warmupDurationMs: ms(lb.warmupDurationSecs),
        })
      : undefined,
    connectionPool: cp
      ? compact({
          tcp: tcp
            ? compact({
                maxConnections: num(tcp.maxConnections),
                connectTimeoutMs: ms(tcp.connectTimeout),
                maxConnectionDurationMs: ms(tcp.maxConnectionDuration),
              })
            : undefined,
          http: http
            ? compact({
                http1MaxPendingRequests: num(http.http1MaxPendingRequests),
                http2MaxRequests: num(http.http2MaxRequests),
                maxRequestsPerConnection: num(http.maxRequestsPerConnection),
                maxRetries: num(http.maxRetries),
                idleTimeoutMs: ms(http.idleTimeout),
                maxConcurrentStreams: num(http.maxConcurrentStreams),
              })
            : undefined,
        })
      : undefined,
    outlierDetection: od
      ? compact({
          // `consecutiveErrors` is the deprecated spelling of consecutive5xxErrors.
          consecutive5xxErrors: num(od.consecutive5xxErrors) ?? num(od.consecutiveErrors),
          consecutiveGatewayErrors: num(od.consecutiveGatewayErrors),
          consecutiveLocalOriginFailures: num(od.consecutiveLocalOriginFailures),
          intervalMs: ms(od.interval),
          baseEjectionTimeMs: ms(od.baseEjectionTime),
          maxEjectionPercent: num(od.maxEjectionPercent),
          minHealthPercent: num(od.minHealthPercent),
          splitExternalLocalOriginErrors: bool(od.splitExternalLocalOriginErrors),
        })
      : undefined,
    tls: tls
      ? compact({
          mode: (str(tls.mode) ?? 'DISABLE') as NonNullable<TrafficPolicy['tls']>['mode'],
          clientCertificate: str(tls.clientCertificate),
          privateKey: str(tls.privateKey),
          caCertificates: str(tls.caCertificates),
          credentialName: str(tls.credentialName),
          subjectAltNames: Array.isArray(tls.subjectAltNames) ? strs(tls.subjectAltNames) : undefined,
          sni: str(tls.sni),
          insecureSkipVerify: bool(tls.insecureSkipVerify),
        })
      : undefined,
  });
}

function portLevel(raw: Raw | undefined, port: number): Raw | undefined {
  return recs(raw?.portLevelSettings).find((p) => num(rec(p.port)?.number) === port);
}

/** Field-wise override: a later level replaces loadBalancer/connectionPool/outlierDetection/tls. */
export function mergePolicies(...levels: readonly TrafficPolicy[]): TrafficPolicy {
  return Object.assign({}, ...levels) as TrafficPolicy;
}

export class DestinationRules {
  private readonly entries: DrEntry[];
  /** namespace → exact host → entries (creation order), and the wildcard entries. */
  private readonly byNs = new Map<string, { exact: Map<string, DrEntry[]>; wildcard: DrEntry[] }>();
  constructor(
    inv: Inventory,
    private readonly domain: string,
    private readonly rootNamespace: string,
  ) {
    this.entries = inv.destinationRules
      .map((obj) => {
        const ns = obj.metadata.namespace ?? 'default';
        const spec = rec(obj.spec) ?? {};
        return {
          obj,
          ns,
          host: resolveHost(str(spec.host) ?? '', ns, domain),
          exportTo: exportToOf(Array.isArray(spec.exportTo) ? strs(spec.exportTo) : undefined, ns),
          created: str((obj.metadata as { creationTimestamp?: unknown }).creationTimestamp) ?? '',
        };
      })
      .sort(byKey((e) => `${e.created}|${e.ns}/${e.obj.metadata.name}`));
    for (const e of this.entries) {
      let slot = this.byNs.get(e.ns);
      if (!slot) {
        slot = { exact: new Map(), wildcard: [] };
        this.byNs.set(e.ns, slot);
      }
      if (e.host.startsWith('*')) slot.wildcard.push(e);
      const list = slot.exact.get(e.host);
      if (list) list.push(e);
      else slot.exact.set(e.host, [e]);
    }
  }

  /** The DR that applies to `host` for a client in `clientNs`, or undefined. */
  lookup(host: string, clientNs: string, serviceNs?: string): DrEntry | undefined {
    for (const ns of [clientNs, serviceNs, this.rootNamespace]) {
      if (ns === undefined) continue;
      const slot = this.byNs.get(ns);
      if (!slot) continue;
      const exact = slot.exact.get(host)?.find((e) => visibleFrom(e.exportTo, e.ns, clientNs));
      if (exact) return exact;
      const matching = slot.wildcard.filter(
        (e) => hostMatches(e.host, host) && visibleFrom(e.exportTo, e.ns, clientNs),
      );
      if (matching.length === 0) continue;
      return matching.reduce((best, e) => (hostMatchRank(e.host, host) > hostMatchRank(best.host, host) ? e : best));
    }
    return undefined;
  }

  /**
   * Istio merges DestinationRules for the same host in the same namespace: subsets are
   * united (the first definition of a name wins) and the oldest top-level policy applies.
   */
  private mergedSpec(dr: DrEntry): { trafficPolicy?: Raw; subsets: Raw[] } {
    const same = this.byNs.get(dr.ns)?.exact.get(dr.host) ?? [dr];
    const subsets: Raw[] = [];
    for (const e of same)
      for (const s of recs(rec(e.obj.spec)?.subsets)) if (!subsets.some((x) => x.name === s.name)) subsets.push(s);
    const trafficPolicy = same.map((e) => rec(rec(e.obj.spec)?.trafficPolicy)).find((tp) => tp !== undefined);
    return trafficPolicy ? { trafficPolicy, subsets } : { subsets };
  }

  subsetNames(host: string, clientNs: string, serviceNs?: string): string[] {
    const dr = this.lookup(host, clientNs, serviceNs);
    return dr ? this.mergedSpec(dr).subsets.map((s) => str(s.name) ?? '') : [];
  }

  /** Labels and effective policy for (host, port, subset). */
  policyFor(
    host: string,
    port: number,
    subset: string | undefined,
    clientNs: string,
    serviceNs?: string,
  ): { policy: TrafficPolicy; labels?: Labels; dr?: string } {
    const dr = this.lookup(host, clientNs, serviceNs);
    if (!dr) return { policy: {} };
    const spec = this.mergedSpec(dr);
    const top = spec.trafficPolicy;
    const sub = subset ? spec.subsets.find((s) => s.name === subset) : undefined;
    const subTp = rec(sub?.trafficPolicy);
    const policy = mergePolicies(
      toTrafficPolicy(top),
      toTrafficPolicy(portLevel(top, port)),
      toTrafficPolicy(subTp),
      toTrafficPolicy(portLevel(subTp, port)),
    );
    return compact({ policy, labels: sub ? stringMap(sub.labels) : undefined, dr: `${dr.ns}/${dr.obj.metadata.name}` });
  }

  get domainName(): string {
    return this.domain;
  }
}

export function buildCluster(
  host: string,
  port: number,
  subset: string | undefined,
  service: Service | undefined,
  workloadsByUid: ReadonlyMap<string, Workload>,
  drs: DestinationRules,
  clientNs: string,
): Cluster {
  const { policy, labels, dr } = drs.policyFor(host, port, subset, clientNs, service?.namespace);
  const sp = service?.ports.find((p) => p.port === port);
  // A subset no DestinationRule defines has no endpoints: its route fails with 503, as in Istio.
  const undefinedSubset = subset !== undefined && labels === undefined;
  const endpoints: ClusterEndpoint[] = (undefinedSubset ? [] : (service?.endpoints ?? []))
    .filter((e) => !labels || labelsMatch(labels, e.labels ?? {}))
    .map((e) => {
      const wl = e.workloadUid ? workloadsByUid.get(e.workloadUid) : undefined;
      return compact({
        address: e.address,
        port: e.ports?.[port] ?? sp?.targetPort ?? port,
        workloadUid: e.workloadUid,
        identity: wl?.identity,
        labels: e.labels ?? {},
        locality: e.locality,
        weight: e.weight,
        hbone: wl ? wl.enrolled : undefined,
      });
    });
  return compact({
    name: clusterName(host, port, subset),
    host,
    port,
    subset,
    protocol: sp?.protocol ?? 'unknown',
    serviceKey: service?.key,
    external: service?.external,
    resolution: service?.resolution,
    endpoints,
    trafficPolicy: policy,
    destinationRule: dr,
  });
}
