// DestinationRule → clusters: the DR for a host is looked up in the client's namespace, then
// the host's namespace, then the root namespace (Istio); subsets select endpoints by labels;
// the effective traffic policy is DR level < DR port level < subset level < subset port level.
import { byKey, compact, labelsMatch } from './collections.js';
import { hostMatches, hostMatchRank, resolveHost } from '../../core/mesh/hosts.js';
import { parseDurationMs } from './validate/common.js';
import { visibleFrom } from './sidecar.js';
import { exportToOf } from './services.js';
import type { Inventory } from './inventory.js';
import type { IstioObject } from './decode-object.js';
import type { DestinationRuleSpec } from '../../core/crds/types.js';
import { clusterName } from '../../core/model/l7.js';
import type { Cluster, ClusterEndpoint, TrafficPolicy } from '../../core/model/l7.js';
import type { Labels, Service, Workload } from '../../core/model/types.js';

type DrSpec = DestinationRuleSpec;
type DrPolicy = NonNullable<DrSpec['trafficPolicy']>;
type DrSubset = NonNullable<DrSpec['subsets']>[number];
/** The settings a port level may override (all but portLevelSettings, tunnel and proxyProtocol). */
type DrPolicySettings = Pick<DrPolicy, 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'>;

interface DrEntry {
  readonly obj: IstioObject<DrSpec>;
  readonly ns: string;
  readonly host: string;
  readonly exportTo: readonly string[];
  readonly created: string;
}

const ms = (v: string | undefined): number | undefined => (v === undefined ? undefined : parseDurationMs(v));

export function toTrafficPolicy(tp: DrPolicySettings | undefined): TrafficPolicy {
  if (!tp) return {};
  const { loadBalancer: lb, connectionPool: cp, outlierDetection: od, tls } = tp;
  const ch = lb?.consistentHash;
  const cookie = ch?.httpCookie;
  const loc = lb?.localityLbSetting;
  return compact({
    loadBalancer: lb
      ? compact({
          simple: lb.simple,
          consistentHash: ch
            ? compact({
                httpHeaderName: ch.httpHeaderName,
                httpCookie: cookie
                  ? compact({ name: cookie.name, path: cookie.path, ttlMs: ms(cookie.ttl) })
                  : undefined,
                useSourceIp: ch.useSourceIp,
                httpQueryParameterName: ch.httpQueryParameterName,
                minimumRingSize: ch.minimumRingSize ?? ch.ringHash?.minimumRingSize,
              })
            : undefined,
          localityLbSetting: loc
            ? compact({
                enabled: loc.enabled,
                distribute: loc.distribute?.map((d) => ({ from: d.from ?? '', to: { ...d.to } })),
                failover: loc.failover?.map((f) => ({ from: f.from ?? '', to: f.to ?? '' })),
                failoverPriority: loc.failoverPriority,
              })
            : undefined,
          // `warmup` supersedes the deprecated warmupDurationSecs.
          warmupDurationMs: ms(lb.warmup?.duration ?? lb.warmupDurationSecs),
        })
      : undefined,
    connectionPool: cp
      ? compact({
          tcp: cp.tcp
            ? compact({
                maxConnections: cp.tcp.maxConnections,
                connectTimeoutMs: ms(cp.tcp.connectTimeout),
                maxConnectionDurationMs: ms(cp.tcp.maxConnectionDuration),
              })
            : undefined,
          http: cp.http
            ? compact({
                http1MaxPendingRequests: cp.http.http1MaxPendingRequests,
                http2MaxRequests: cp.http.http2MaxRequests,
                maxRequestsPerConnection: cp.http.maxRequestsPerConnection,
                maxRetries: cp.http.maxRetries,
                idleTimeoutMs: ms(cp.http.idleTimeout),
                maxConcurrentStreams: cp.http.maxConcurrentStreams,
              })
            : undefined,
        })
      : undefined,
    outlierDetection: od
      ? compact({
          // `consecutiveErrors` is the deprecated spelling of consecutive5xxErrors.
          consecutive5xxErrors: od.consecutive5xxErrors ?? od.consecutiveErrors,
          consecutiveGatewayErrors: od.consecutiveGatewayErrors,
          consecutiveLocalOriginFailures: od.consecutiveLocalOriginFailures,
          intervalMs: ms(od.interval),
          baseEjectionTimeMs: ms(od.baseEjectionTime),
          maxEjectionPercent: od.maxEjectionPercent,
          minHealthPercent: od.minHealthPercent,
          splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors,
        })
      : undefined,
    tls: tls
      ? compact({
          mode: tls.mode ?? 'DISABLE',
          clientCertificate: tls.clientCertificate,
          privateKey: tls.privateKey,
          caCertificates: tls.caCertificates,
          credentialName: tls.credentialName,
          subjectAltNames: tls.subjectAltNames,
          sni: tls.sni,
          insecureSkipVerify: tls.insecureSkipVerify,
        })
      : undefined,
  });
}

function portLevel(tp: DrPolicy | undefined, port: number): DrPolicySettings | undefined {
  return tp?.portLevelSettings?.find((p) => p.port?.number === port);
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
        const created = (obj.metadata as { readonly creationTimestamp?: unknown }).creationTimestamp;
        return {
          obj,
          ns,
          host: resolveHost(obj.spec.host, ns, domain),
          exportTo: exportToOf(obj.spec.exportTo, ns),
          created: typeof created === 'string' ? created : '',
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
  private mergedSpec(dr: DrEntry): { trafficPolicy?: DrPolicy; subsets: DrSubset[] } {
    const same = this.byNs.get(dr.ns)?.exact.get(dr.host) ?? [dr];
    const subsets: DrSubset[] = [];
    for (const e of same)
      for (const s of e.obj.spec.subsets ?? []) if (!subsets.some((x) => x.name === s.name)) subsets.push(s);
    const trafficPolicy = same.map((e) => e.obj.spec.trafficPolicy).find((tp) => tp !== undefined);
    return trafficPolicy ? { trafficPolicy, subsets } : { subsets };
  }

  subsetNames(host: string, clientNs: string, serviceNs?: string): string[] {
    const dr = this.lookup(host, clientNs, serviceNs);
    return dr ? this.mergedSpec(dr).subsets.map((s) => s.name) : [];
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
    const subTp = sub?.trafficPolicy;
    const policy = mergePolicies(
      toTrafficPolicy(top),
      toTrafficPolicy(portLevel(top, port)),
      toTrafficPolicy(subTp),
      toTrafficPolicy(portLevel(subTp, port)),
    );
    return compact({ policy, labels: sub ? { ...sub.labels } : undefined, dr: `${dr.ns}/${dr.obj.metadata.name}` });
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
