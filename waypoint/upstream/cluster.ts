// Run-time state of one cluster (a service/subset/port): endpoints with their in-flight
// counts and outlier state, connection-pool limits, and the endpoint pick. The state of an
// endpoint survives config updates as long as the endpoint stays.
import type { Cluster } from '../../core/model/l7.js';
import type { Locality } from '../../core/model/types.js';
import { localityCandidates, pickByPolicy, type EndpointRuntime, type PickInput } from './balancer.js';
import { isEjected, newOutlierState, outlierSettings, recordResult, sweep, type OutlierSettings } from './outlier.js';

export type PickFailure = 'no-healthy' | 'overflow';

export interface Limits {
  /** Concurrent requests allowed (http2MaxRequests; for HTTP/1: maxConnections + http1MaxPendingRequests). */
  readonly maxActive: number;
  readonly maxRequestsPerConnection?: number;
  readonly maxConnections?: number;
}

function limitsOf(c: Cluster): Limits {
  const pool = c.trafficPolicy.connectionPool;
  const h2 = c.protocol === 'http2' || c.protocol === 'grpc';
  let maxActive = Number.POSITIVE_INFINITY;
  if (h2 && pool?.http?.http2MaxRequests !== undefined) maxActive = pool.http.http2MaxRequests;
  if (!h2 && (pool?.tcp?.maxConnections !== undefined || pool?.http?.http1MaxPendingRequests !== undefined)) {
    // Envoy defaults both to 2^32-1 when unset; one set alone bounds the sum.
    const conns = pool?.tcp?.maxConnections ?? 1024;
    const pending = pool?.http?.http1MaxPendingRequests ?? 1024;
    maxActive = conns + pending;
  }
  if (!h2 && pool?.http?.http2MaxRequests !== undefined) maxActive = Math.min(maxActive, pool.http.http2MaxRequests);
  return {
    maxActive,
    ...(pool?.http?.maxRequestsPerConnection ? { maxRequestsPerConnection: pool.http.maxRequestsPerConnection } : {}),
    ...(pool?.tcp?.maxConnections ? { maxConnections: pool.tcp.maxConnections } : {}),
  };
}

export class ClusterRuntime {
  config: Cluster;
  limits: Limits;
  private outlier: OutlierSettings | undefined;
  private endpoints: EndpointRuntime[] = [];
  private readonly rr = { next: 0 };
  active = 0;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    config: Cluster,
    private readonly selfLocality: Locality | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.config = config;
    this.limits = limitsOf(config);
    this.update(config);
  }

  update(config: Cluster): void {
    const prior = new Map(this.endpoints.map((e) => [e.key, e]));
    this.config = config;
    this.limits = limitsOf(config);
    this.outlier = outlierSettings(config.trafficPolicy.outlierDetection);
    this.endpoints = config.endpoints.map((endpoint) => {
      const key = `${endpoint.address}:${endpoint.port}`;
      const known = prior.get(key);
      if (known) known.endpoint = endpoint;
      return known ?? { endpoint, key, active: 0, outlier: newOutlierState() };
    });
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.outlier) {
      this.sweepTimer = setInterval(
        () =>
          sweep(
            this.endpoints.map((e) => e.outlier),
            this.now(),
          ),
        Math.min(this.outlier.intervalMs, 1000),
      );
      this.sweepTimer.unref();
    }
  }

  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /**
   * Endpoints not ejected. Below `minHealthPercent` healthy (Envoy's panic threshold) every
   * endpoint is used again; Istio's default is 0%, so when all are ejected there is none.
   */
  healthy(): EndpointRuntime[] {
    const now = this.now();
    const all = this.endpoints.filter((e) => e.endpoint.address !== '');
    const up = all.filter((e) => !isEjected(e.outlier, now));
    const minHealthPercent = this.config.trafficPolicy.outlierDetection?.minHealthPercent ?? 0;
    if (all.length > 0 && minHealthPercent > 0 && (up.length * 100) / all.length < minHealthPercent) return all;
    return up;
  }

  pick(input: PickInput, exclude: ReadonlySet<string> = new Set()): EndpointRuntime | PickFailure {
    if (this.active >= this.limits.maxActive) return 'overflow';
    const healthy = this.healthy();
    if (healthy.length === 0) return 'no-healthy';
    // Retries go to another endpoint when there is one.
    const fresh = healthy.filter((e) => !exclude.has(e.key));
    const pool = fresh.length > 0 ? fresh : healthy;
    const lb = this.config.trafficPolicy.loadBalancer;
    const failoverNeedsOutlier = lb?.localityLbSetting && !lb.localityLbSetting.distribute && !this.outlier;
    const candidates = failoverNeedsOutlier ? pool : localityCandidates(pool, this.selfLocality, lb, input.random);
    return pickByPolicy(candidates, lb, input, this.rr) ?? 'no-healthy';
  }

  /** Called when a request to `ep` finished with `status` (0 = connect failure / reset). */
  record(ep: EndpointRuntime, status: number): void {
    if (!this.outlier) return;
    const now = this.now();
    const ejected = this.endpoints.filter((e) => isEjected(e.outlier, now)).length;
    recordResult(ep.outlier, this.outlier, status, now, ejected, this.endpoints.length);
  }

  snapshot(): Array<{ address: string; active: number; ejected: boolean; ejections: number; ejectedForMs: number }> {
    const now = this.now();
    return this.endpoints.map((e) => ({
      address: e.key,
      active: e.active,
      ejected: isEjected(e.outlier, now),
      ejections: e.outlier.ejections,
      ejectedForMs: Math.max(0, e.outlier.ejectedUntil - now),
    }));
  }
}

/** Holds one ClusterRuntime per cluster name across config updates. */
export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();

  constructor(private readonly selfLocality?: Locality) {}

  apply(clusters: readonly Cluster[]): void {
    const seen = new Set<string>();
    for (const c of clusters) {
      seen.add(c.name);
      const existing = this.clusters.get(c.name);
      if (existing) existing.update(c);
      else this.clusters.set(c.name, new ClusterRuntime(c, this.selfLocality));
    }
    for (const [name, runtime] of this.clusters) {
      if (!seen.has(name)) {
        runtime.close();
        this.clusters.delete(name);
      }
    }
  }

  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  all(): ClusterRuntime[] {
    return [...this.clusters.values()];
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
    this.clusters.clear();
  }
}
