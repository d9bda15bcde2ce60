// Istio's four HTTP request metrics (istio_requests_total and the duration / request size /
// response size histograms) kept as plain numbers per bound label set and turned into
// prom-client's export shape only at scrape time. prom-client's own bound children hash
// every label value into a string key and validate the labels on each inc()/observe(): four
// times per request on the waypoint's hot path. Here a request costs a few additions.
// The objects below are registered in a prom-client Registry (they implement what it reads:
// name, help, type, aggregator, get(), getForPromString(), reset()), so the text exposition is
// the same as prom-client's Counter and Histogram.

export interface HistogramCounts {
  sum: number;
  count: number;
  /** Per upper bound (not cumulative); index = bound's index. Past the last bound: only `count`. */
  readonly buckets: number[];
}

/** One label set's values: what a request updates. */
export interface HttpSeriesState {
  readonly labels: Readonly<Record<string, string>>;
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
  readonly requestsMetric: LeanCounter;
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
    this.requestsMetric = new LeanCounter('istio_requests_total', 'Total number of requests', states, reset);
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
  bind(labels: Readonly<Record<string, string>>): HttpSeriesState {
    const s: HttpSeriesState = {
      labels: { ...labels },
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

class LeanCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly states: () => readonly HttpSeriesState[],
    readonly reset: () => void,
  ) {}

  get(): Promise<MetricData> {
    const values = this.states()
      .filter((s) => s.requests > 0)
      .map((s) => ({ value: s.requests, labels: { ...s.labels } }));
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
    for (const s of this.states()) {
      const h = this.pick(s);
      if (h.count === 0) continue;
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

  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(splay) };
  }
}
