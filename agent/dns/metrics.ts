// The DNS proxy's Prometheus metrics, with ztunnel's names and labels: every query a pod
// sends (`istio_dns_requests_total`), the ones forwarded to the upstream resolvers, the
// forwards that failed, and how long the upstream took. Labels: the query type (`a`, `aaaa`,
// …), the transport (`udp`, `tcp`) and the asking pod's canonical service and revision.
import { Counter, Histogram, type Registry } from 'prom-client';
import { TYPE } from '../../core/dns/wire.js';
import { peerFromWorkload } from '../../core/metrics/labels.js';
import type { Workload } from '../../core/model/types.js';

const LABELS = [
  'request_query_type',
  'request_protocol',
  'source_canonical_service',
  'source_canonical_revision',
] as const;
type DnsLabel = (typeof LABELS)[number];
/** ztunnel's buckets for the upstream duration, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.1, 1, 5];

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([name, n]) => [n, name.toLowerCase()]));

/** The asking pod, as the labels name it (absent: `unknown`, as ztunnel for a pod it does not know). */
export type DnsSource = Pick<Workload, 'name' | 'namespace' | 'identity' | 'labels'> &
  Partial<Pick<Workload, 'canonicalName' | 'canonicalRevision' | 'workloadName'>>;

/** One query's labels: what it asked for, over what, from whom. */
export interface DnsQueryFacts {
  readonly type: number;
  readonly transport: 'udp' | 'tcp';
  readonly source?: DnsSource;
}

/** The registered metric of that name, or a new one registered there (one registry may see a second proxy). */
function registered<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class DnsMetrics {
  private readonly requests: Counter<DnsLabel>;
  private readonly upstreamRequests: Counter<DnsLabel>;
  private readonly upstreamFailures: Counter<DnsLabel>;
  private readonly upstreamDuration: Histogram<DnsLabel>;
  /** A pod's two source labels, computed once per workload object. */
  private readonly sources = new WeakMap<DnsSource, { service: string; revision: string }>();

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = (name: string, help: string) =>
      registered(registry, name, () => new Counter({ name, help, labelNames: LABELS, registers }));
    this.requests = counter('istio_dns_requests_total', 'Total number of DNS requests (unstable)');
    this.upstreamRequests = counter(
      'istio_dns_upstream_requests_total',
      'Total number of DNS requests forwarded to upstream (unstable)',
    );
    this.upstreamFailures = counter(
      'istio_dns_upstream_failures_total',
      'Total number of DNS requests that failed to forward upstream (unstable)',
    );
    const durationName = 'istio_dns_upstream_request_duration_seconds';
    this.upstreamDuration = registered(
      registry,
      durationName,
      () =>
        new Histogram({
          name: durationName,
          help: 'Total time in seconds Istio takes to get DNS response from upstream (unstable)',
          labelNames: LABELS,
          buckets: DURATION_BUCKETS,
          registers,
        }),
    );
  }

  /** A query from a pod (every decoded query, answered here or forwarded). */
  query(q: DnsQueryFacts): void {
    this.requests.inc(this.labels(q));
  }

  /** A query forwarded upstream: counted, timed, and counted again when it failed. */
  forwarded(q: DnsQueryFacts, seconds: number, failed: boolean): void {
    const labels = this.labels(q);
    this.upstreamRequests.inc(labels);
    this.upstreamDuration.observe(labels, seconds);
    if (failed) this.upstreamFailures.inc(labels);
  }

  private labels(q: DnsQueryFacts): Record<DnsLabel, string> {
    const source = q.source ? this.sourceOf(q.source) : undefined;
    return {
      request_query_type: TYPE_NAMES.get(q.type) ?? `type${q.type}`,
      request_protocol: q.transport,
      source_canonical_service: source?.service ?? 'unknown',
      source_canonical_revision: source?.revision ?? 'unknown',
    };
  }

  private sourceOf(w: DnsSource): { service: string; revision: string } {
    let s = this.sources.get(w);
    if (!s) {
      const peer = peerFromWorkload(w);
      s = { service: peer.app ?? 'unknown', revision: peer.version ?? 'latest' };
      this.sources.set(w, s);
    }
    return s;
  }
}
