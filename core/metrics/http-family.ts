// Istio's four HTTP request metrics (istio_requests_total and the duration / request size /
// response size histograms) kept as plain numbers per bound label set and turned into
// prom-client's export shape only at scrape time. prom-client's own bound children hash
// every label value into a string key and validate the labels on each inc()/observe(): four
// times per request on the waypoint's hot path. Here a request costs a few additions.
// The objects below are registered in a prom-client Registry (they implement what it reads:
// name, help, type, aggregator, get(), getForPromString(), reset()), so the text exposition is
// the same as prom-client's Counter and Histogram. A series with a MetricsView (Telemetry API
// overrides) is exported with its projected labels; series that project alike are summed.
import type { MetricsView } from './projection.js';

export interface HistogramCounts {
  sum: number;
  count: number;
  /** Per upper bound (not cumulative); index = bound's index. Past the last bound: only `count`. */
  readonly buckets: number[];
}

/** One label set's values: what a request updates. */
export interface HttpSeriesState {
  readonly labels: Readonly<Record<string, string>>;
  /** Telemetry overrides of the reporter that recorded it, and its UPSERT values. */
  readonly view?: MetricsView;
  readonly extras?: Readonly<Record<string, string>>;
  requests: number;
  readonly duration: HistogramCounts;
  readonly requestBytes: HistogramCounts;
  readonly responseBytes: HistogramCounts;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Readonly<Record<string, string>>;
  metricName?: string;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: MetricValue[];
}

export function observe(h: HistogramCounts, bounds: readonly number[], value: number): void {
  h.sum += value;
  h.count += 1;
  for (let i = 0; i < bounds.length; i++) {
    if (value <= bounds[i]!) {
      h.buckets[i]! += 1;
      return;
    }
  }
}

function emptyCounts(bounds: readonly number[]): HistogramCounts {
  return { sum: 0, count: 0, buckets: new Array<number>(bounds.length).fill(0) };
}

export class HttpFamily {
  private readonly states: HttpSeriesState[] = [];
  readonly requestsMetric: LeanCounter<HttpSeriesState>;
  readonly durationMetric: LeanHistogram;
  readonly requestBytesMetric: LeanHistogram;
  readonly responseBytesMetric: LeanHistogram;

  constructor(
    readonly durationBounds: readonly number[],
    readonly sizeBounds: readonly number[],
  ) {
    const states = (): readonly HttpSeriesState[] => this.states;
    const reset = (): void => {
      this.reset();
    };
    this.requestsMetric = new LeanCounter(
      'istio_requests_total',
      'Total number of requests',
      states,
      (s) => s.requests,
      reset,
    );
    this.durationMetric = new LeanHistogram(
      'istio_request_duration_milliseconds',
      'Duration of requests in milliseconds',
      durationBounds,
      states,
      (s) => s.duration,
      reset,
    );
    this.requestBytesMetric = new LeanHistogram(
      'istio_request_bytes',
      'Size of HTTP request bodies and headers in bytes',
      sizeBounds,
      states,
      (s) => s.requestBytes,
      reset,
    );
    this.responseBytesMetric = new LeanHistogram(
      'istio_response_bytes',
      'Size of HTTP response bodies and headers in bytes',
      sizeBounds,
      states,
      (s) => s.responseBytes,
      reset,
    );
  }

  /** A new label set's values (exported from its first request on). */
  bind(
    labels: Readonly<Record<string, string>>,
    view?: MetricsView,
    extras?: Readonly<Record<string, string>>,
  ): HttpSeriesState {
    const s: HttpSeriesState = {
      labels: { ...labels },
      ...(view && !view.isIdentity ? { view, ...(extras ? { extras } : {}) } : {}),
      requests: 0,
      duration: emptyCounts(this.durationBounds),
      requestBytes: emptyCounts(this.sizeBounds),
      responseBytes: emptyCounts(this.sizeBounds),
    };
    this.states.push(s);
    return s;
  }

  private reset(): void {
    for (const s of this.states) {
      s.requests = 0;
      for (const h of [s.duration, s.requestBytes, s.responseBytes]) {
        h.sum = 0;
        h.count = 0;
        h.buckets.fill(0);
      }
    }
  }
}

/** Spread `{le}` before the series labels, as prom-client's Histogram.get() does. */
function splay(v: MetricValue): MetricValue {
  return {
    value: v.value,
    labels: { ...v.labels, ...v.sharedLabels },
    ...(v.metricName ? { metricName: v.metricName } : {}),
  };
}

/** The labels a series is exported with under `metric` (undefined: the metric is disabled). */
export function exportedLabels(
  s: { labels: Readonly<Record<string, string>>; view?: MetricsView; extras?: Readonly<Record<string, string>> },
  metric: string,
): Record<string, string> | undefined {
  return s.view ? s.view.project(metric, s.labels, s.extras) : s.labels;
}

function labelKey(labels: Readonly<Record<string, string>>): string {
  let key = '';
  for (const k of Object.keys(labels)) key += `${k}\u0001${labels[k]}\u0002`;
  return key;
}

/** A counter over plain-number series states, summed per exported label set. */
export class LeanCounter<S extends { labels: Readonly<Record<string, string>>; view?: MetricsView }> {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly states: () => readonly S[],
    private readonly pick: (s: S) => number,
    readonly reset: () => void,
    /** Export series at 0 too (TCP series exist from their connection's start). */
    private readonly withZero = false,
  ) {}

  get(): Promise<MetricData> {
    const sums = new Map<string, MetricValue>();
    for (const s of this.states()) {
      const value = this.pick(s);
      if (value === 0 && !this.withZero) continue;
      const labels = exportedLabels(s, this.name);
      if (!labels) continue;
      const key = labelKey(labels);
      const hit = sums.get(key);
      if (hit) hit.value += value;
      else sums.set(key, { value, labels: { ...labels } });
    }
    const values = [...sums.values()];
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

class LeanHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly states: () => readonly HttpSeriesState[],
    private readonly pick: (s: HttpSeriesState) => HistogramCounts,
    readonly reset: () => void,
  ) {}

  getForPromString(): Promise<MetricData> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [labels, h] of this.summed()) {
      const s = { labels };
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += h.buckets[i]!;
        values.push({ value: acc, labels: { le: this.bounds[i]! }, sharedLabels: s.labels, metricName: bucket });
      }
      values.push(
        { value: h.count, labels: { le: '+Inf' }, sharedLabels: s.labels, metricName: bucket },
        { value: h.sum, labels: {}, sharedLabels: s.labels, metricName: `${this.name}_sum` },
        { value: h.count, labels: {}, sharedLabels: s.labels, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Counts per exported label set (series that project alike are added up, in a copy). */
  private summed(): Array<[Readonly<Record<string, string>>, HistogramCounts]> {
    const out = new Map<string, { labels: Readonly<Record<string, string>>; h: HistogramCounts; owned: boolean }>();
    for (const s of this.states()) {
      const h = this.pick(s);
      if (h.count === 0) continue;
      const labels = exportedLabels(s, this.name);
      if (!labels) continue;
      const key = labelKey(labels);
      const hit = out.get(key);
      if (!hit) {
        out.set(key, { labels, h, owned: false });
        continue;
      }
      if (!hit.owned) {
        hit.h = copyCounts(hit.h);
        hit.owned = true;
      }
      hit.h.sum += h.sum;
      hit.h.count += h.count;
      for (let i = 0; i < hit.h.buckets.length; i++) hit.h.buckets[i]! += h.buckets[i]!;
    }
    return [...out.values()].map((e) => [e.labels, e.h]);
  }

  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(splay) };
  }
}

function copyCounts(h: HistogramCounts): HistogramCounts {
  return { sum: h.sum, count: h.count, buckets: [...h.buckets] };
}
