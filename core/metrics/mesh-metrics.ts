// One prom-client Registry per process (never the global default registry), holding Istio's
// standard TCP and HTTP metrics and Ambit's own `ambit_*` component metrics.
//
// Cardinality: every family keeps at most `maxSeries` label sets; past that, new label sets
// are folded into one `other` series (and counted in ambit_metrics_series_overflow_total),
// so a misbehaving input cannot grow memory without bound.
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { HttpFamily, observe, type HttpSeriesState } from './http-family.js';
import { viewKey, type MetricsView } from './projection.js';
import { TcpFamily } from './tcp-family.js';
import {
  HTTP_LABEL_NAMES,
  TCP_LABEL_NAMES,
  type HttpLabelName,
  type HttpLabels,
  type TcpLabelName,
  type TcpLabels,
} from './labels.js';

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
/** Istio's byte-size buckets (1 B .. 10 MB, ×10). */
export const SIZE_BUCKETS_BYTES = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];

export interface MeshMetricsOptions {
  /** `agent`, `waypoint`, `controller`: the `component` label of ambit_* metrics. */
  component: string;
  tcp?: boolean;
  http?: boolean;
  /** Node process metrics (cpu, memory, event loop) with the `ambit_process_` prefix. */
  processMetrics?: boolean;
  maxSeries?: number;
}

/** A TCP metric series bound to one label set: cheap to update per read/write. */
export interface TcpSeries {
  opened(): void;
  closed(): void;
  sent(bytes: number): void;
  received(bytes: number): void;
}

export interface RequestObservation {
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

const OTHER = 'other';
const GAUGES_NAMED_TOTAL = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];
// Labels kept on an overflow series; everything else becomes `other`.
const KEPT_ON_OVERFLOW = new Set([
  'reporter',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
  'response_code',
]);

/** Telemetry API overrides for a series: the reporter's view and the UPSERT values. */
export interface SeriesOverrides {
  readonly view?: MetricsView;
  readonly extras?: Readonly<Record<string, string>>;
}

/**
 * Caps the number of label sets of a metric family and caches what was built for each one,
 * so a repeated label set costs one string join and a lookup.
 */
class SeriesCache<L extends string, T> {
  private readonly cache = new Map<string, T>();
  constructor(
    private readonly names: readonly L[],
    private readonly max: number,
    private readonly onOverflow: () => void,
    private readonly build: (labels: Record<L, string>, o: SeriesOverrides) => T,
  ) {}

  private key(labels: Record<L, string>): string {
    let key = '';
    for (const n of this.names) key += labels[n] + '\u0001';
    return key;
  }

  get(labels: Record<L, string>, o: SeriesOverrides = {}): T {
    const key = this.key(labels) + viewKey(o.view, o.extras);
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    if (this.cache.size < this.max) {
      const made = this.build(labels, o);
      this.cache.set(key, made);
      return made;
    }
    this.onOverflow();
    const folded = {} as Record<L, string>;
    for (const n of this.names) folded[n] = KEPT_ON_OVERFLOW.has(n) ? labels[n] : OTHER;
    // The folded series keeps the reporter's view (a disabled metric stays off), not its values.
    const foldedOverrides = o.view ? { view: o.view } : {};
    const foldedKey = '\u0000' + this.key(folded) + viewKey(o.view, undefined);
    let made = this.cache.get(foldedKey);
    if (made === undefined) {
      made = this.build(folded, foldedOverrides);
      this.cache.set(foldedKey, made);
    }
    return made;
  }
}

/** The four HTTP metrics of one label set (plain numbers, exported at scrape time). */
export type HttpSeries = HttpSeriesState;

/** One finished request on series bound earlier (httpSeries): no label work per request. */
export function observeRequest(s: HttpSeries, obs: RequestObservation): void {
  s.requests += 1;
  observe(s.duration, DURATION_BUCKETS_MS, obs.durationMs);
  observe(s.requestBytes, SIZE_BUCKETS_BYTES, obs.requestBytes);
  observe(s.responseBytes, SIZE_BUCKETS_BYTES, obs.responseBytes);
}

export class MeshMetrics {
  readonly registry = new Registry();
  readonly component: string;

  private readonly tcp?: TcpFamily;
  private readonly http?: HttpFamily;
  private readonly tcpCache: SeriesCache<TcpLabelName, TcpSeries>;
  private readonly httpCache: SeriesCache<HttpLabelName, HttpSeries>;

  private readonly overflow: Counter<'component'>;
  private readonly refused: Counter<'component' | 'reason'>;
  private readonly activeConnections: Gauge<'component'>;
  private readonly configVersion: Gauge<'component' | 'version'>;
  private readonly configUpdates: Counter<'component' | 'result'>;
  private readonly certExpiry: Gauge<'component' | 'identity'>;
  private readonly poolSize: Gauge<'component' | 'pool'>;
  private certSource?: () => ReadonlyArray<{ identity: string; notAfter: Date }>;
  private poolSource?: () => Readonly<Record<string, number>>;

  constructor(opts: MeshMetricsOptions) {
    this.component = opts.component;
    const registers = [this.registry];
    const max = opts.maxSeries ?? 10000;

    this.overflow = new Counter({
      name: 'ambit_metrics_series_overflow_total',
      help: 'Label sets folded into the "other" series because a metric reached its series limit',
      labelNames: ['component'],
      registers,
    });
    const overflow = (): void => this.overflow.inc({ component: this.component });
    this.tcpCache = new SeriesCache(TCP_LABEL_NAMES, max, overflow, (l, o) => this.bindTcp(l, o));
    this.httpCache = new SeriesCache(HTTP_LABEL_NAMES, max, overflow, (l, o) => this.http!.bind(l, o.view, o.extras));

    if (opts.tcp !== false) {
      this.tcp = new TcpFamily();
      for (const metric of this.tcp.metrics) this.registry.registerMetric(metric as unknown as Metric);
    }
    if (opts.http !== false) {
      this.http = new HttpFamily(DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES);
      for (const metric of [
        this.http.requestsMetric,
        this.http.durationMetric,
        this.http.requestBytesMetric,
        this.http.responseBytesMetric,
      ]) {
        this.registry.registerMetric(metric as unknown as Metric);
      }
    }

    this.refused = new Counter({
      name: 'ambit_connections_refused_total',
      help: 'Connections refused (authorization, STRICT mTLS, overload…)',
      labelNames: ['component', 'reason'],
      registers,
    });
    this.activeConnections = new Gauge({
      name: 'ambit_active_connections',
      help: 'Connections open now',
      labelNames: ['component'],
      registers,
    });
    this.configVersion = new Gauge({
      name: 'ambit_config_version',
      help: 'Version of the config in use (value 1, version as a label)',
      labelNames: ['component', 'version'],
      registers,
    });
    this.configUpdates = new Counter({
      name: 'ambit_config_updates_total',
      help: 'Config updates received, by result (applied, rejected)',
      labelNames: ['component', 'result'],
      registers,
    });
    const collectCerts = (): void => this.collectCerts();
    const collectPools = (): void => this.collectPools();
    this.certExpiry = new Gauge({
      name: 'ambit_cert_expiry_seconds',
      help: 'Seconds until each held workload certificate expires',
      labelNames: ['component', 'identity'],
      registers,
      collect: collectCerts,
    });
    this.poolSize = new Gauge({
      name: 'ambit_pool_size',
      help: 'Open upstream connections per pool',
      labelNames: ['component', 'pool'],
      registers,
      collect: collectPools,
    });
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'ambit_process_' });
      // prom-client's `nodejs_active_*_total` are gauges, and a gauge must not end in `_total`
      // (promtool check metrics); the per-type `nodejs_active_*` gauges carry the same counts.
      for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(`ambit_process_${name}`);
    }
  }

  /** The four TCP metrics bound to one label set (call once per connection). */
  tcpSeries(labels: TcpLabels, overrides?: SeriesOverrides): TcpSeries {
    if (!this.tcp) throw new Error('TCP metrics are disabled in this registry');
    return this.tcpCache.get(labels, overrides);
  }

  /** One finished HTTP request (waypoint). */
  recordRequest(labels: HttpLabels, obs: RequestObservation, overrides?: SeriesOverrides): void {
    observeRequest(this.httpSeries(labels, overrides), obs);
  }

  /**
   * The HTTP metrics bound to one label set, for a caller that keeps them per label tuple
   * (within the series cap; past it, the folded `other` series).
   */
  httpSeries(labels: HttpLabels, overrides?: SeriesOverrides): HttpSeries {
    if (!this.http) throw new Error('HTTP metrics are disabled in this registry');
    return this.httpCache.get(labels, overrides);
  }

  private bindTcp(l: TcpLabels, o: SeriesOverrides): TcpSeries {
    const s = this.tcp!.bind(l, o.view, o.extras);
    return {
      opened: () => {
        s.opened += 1;
      },
      closed: () => {
        s.closed += 1;
      },
      sent: (n) => {
        if (n > 0) s.sent += n;
      },
      received: (n) => {
        if (n > 0) s.received += n;
      },
    };
  }

  /** `reason` must come from a small fixed set (e.g. authz, strict_mtls, overload). */
  connectionRefused(reason: string): void {
    this.refused.inc({ component: this.component, reason });
  }
  setActiveConnections(n: number): void {
    this.activeConnections.set({ component: this.component }, n);
  }

  configApplied(version: string): void {
    this.configVersion.reset();
    this.configVersion.set({ component: this.component, version }, 1);
    this.configUpdates.inc({ component: this.component, result: 'applied' });
  }

  configRejected(): void {
    this.configUpdates.inc({ component: this.component, result: 'rejected' });
  }

  /** Read at scrape time, e.g. `() => certStore.expiries()`. */
  setCertificateSource(fn: () => ReadonlyArray<{ identity: string; notAfter: Date }>): void {
    this.certSource = fn;
  }
  /** Read at scrape time: pool name → open connections. */
  setPoolSource(fn: () => Readonly<Record<string, number>>): void {
    this.poolSource = fn;
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
  /** Same as text(); lets a MeshMetrics be passed where a prom-client Registry is expected. */
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }
  get contentType(): string {
    return this.registry.contentType;
  }

  private collectCerts(): void {
    this.certExpiry.reset();
    if (!this.certSource) return;
    const now = Date.now();
    for (const c of this.certSource()) {
      this.certExpiry.set(
        { component: this.component, identity: c.identity },
        Math.round((c.notAfter.getTime() - now) / 1000),
      );
    }
  }

  private collectPools(): void {
    this.poolSize.reset();
    if (!this.poolSource) return;
    for (const [pool, n] of Object.entries(this.poolSource()))
      this.poolSize.set({ component: this.component, pool }, n);
  }
}

export function createMeshMetrics(opts: MeshMetricsOptions): MeshMetrics {
  return new MeshMetrics(opts);
}
