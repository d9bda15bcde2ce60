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

// The scrape ring keeps up to 15 minutes of scrapes: one label object per series, shared by
// every scrape of it, keeps that small (the raw label text is the key).
const MAX_INTERNED = 50_000;
const interned = new Map<string, Readonly<Record<string, string>>>();

function labelsOf(raw: string, extra: Readonly<Record<string, string>> | undefined, extraKey: string) {
  const key = `${extraKey}\u0000${raw}`;
  let labels = interned.get(key);
  if (!labels) {
    const l: Record<string, string> = {};
    for (const m of raw.matchAll(LABEL)) l[m[1]!] = unescape(m[2]!);
    labels = extra ? { ...l, ...extra } : l;
    if (interned.size >= MAX_INTERNED) interned.clear();
    interned.set(key, labels);
  }
  return labels;
}

/** `extra` labels are added to every sample (e.g. which component it came from). */
export function parseMetricsText(
  text: string,
  keep?: (name: string) => boolean,
  extra?: Readonly<Record<string, string>>,
): Samples {
  const out: Samples = new Map();
  const extraKey = extra ? JSON.stringify(extra) : '';
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const name = m[1]!;
    if (keep && !keep(name)) continue;
    const value = Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') continue;
    const labels = labelsOf(m[2] ?? '', extra, extraKey);
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
const keys = new WeakMap<object, string>();

export function seriesKey(labels: Readonly<Record<string, string>>): string {
  const known = keys.get(labels);
  if (known !== undefined) return known;
  const key = computeKey(labels);
  keys.set(labels, key);
  return key;
}

function computeKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0001');
}
