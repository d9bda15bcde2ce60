// The Prometheus text format as the dashboard needs it: every sample of the families it
// reads, labels as a plain object. Comments, other families and malformed lines are skipped.
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** family name → samples (histograms keep their `_bucket`, `_sum`, `_count` names). */
export type Samples = Map<string, Sample[]>;

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

const unescape = (v: string): string => v.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));

export function parseMetricsText(text: string, keep?: (name: string) => boolean): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const name = m[1]!;
    if (keep && !keep(name)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = unescape(l[2]!);
    const value = Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') continue;
    let list = out.get(name);
    if (!list) {
      list = [];
      out.set(name, list);
    }
    list.push({ labels, value });
  }
  return out;
}

/** Only the families the graph reads: Istio's request and TCP metrics and the agent's refusals. */
export const GRAPH_FAMILIES = new RegExp(
  '^(istio_requests_total|istio_request_duration_milliseconds_bucket|istio_tcp_\\w+_total' +
    '|ambit_connections_refused_total)$',
);

/** A stable key of a label set (sorted), to match a series across scrapes. */
export function seriesKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0001');
}
