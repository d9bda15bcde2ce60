// Telemetry API metric overrides applied to Istio's metrics: a MetricsView, compiled once per
// reporter's effective Telemetry, says which metrics are off and how each metric's labels are
// changed (tagOverrides REMOVE / UPSERT). Series are recorded with the standard labels plus
// the UPSERT values (`extras`); each metric's labels are projected at scrape time, and series
// whose projected labels coincide are summed, so a removed label never yields duplicates.
import { ISTIO_METRICS, type IstioMetric, type MetricOverride, type ValueExpr } from '../telemetry/policy.js';

/** Key of an UPSERT value in a series' extras: metric name and tag. */
export const extraKey = (metric: string, tag: string): string => `${metric}|${tag}`;

interface MetricRule {
  readonly disabled: boolean;
  /** In order: REMOVE deletes, UPSERT sets from extras. */
  readonly ops: ReadonlyArray<{ readonly tag: string; readonly remove: boolean }>;
}

let nextViewId = 1;

export class MetricsView {
  readonly id = nextViewId++;
  private readonly rules = new Map<string, MetricRule>();
  /** The values to compute per connection/request: extras key → expression. */
  readonly upserts: ReadonlyArray<{ readonly key: string; readonly value: ValueExpr }>;

  constructor(overrides: readonly MetricOverride[]) {
    const upserts = new Map<string, ValueExpr>();
    const names = Object.keys(ISTIO_METRICS) as IstioMetric[];
    for (const metric of names) {
      const name = ISTIO_METRICS[metric];
      let disabled = false;
      const ops: Array<{ tag: string; remove: boolean }> = [];
      for (const o of overrides) {
        if (o.metrics.length > 0 && !o.metrics.includes(metric)) continue;
        if (o.disabled !== undefined) disabled = o.disabled;
        for (const t of o.tags) {
          ops.push({ tag: t.tag, remove: t.operation === 'REMOVE' });
          if (t.operation === 'UPSERT' && t.value) upserts.set(extraKey(name, t.tag), t.value);
        }
      }
      if (disabled || ops.length > 0) this.rules.set(name, { disabled, ops });
    }
    this.upserts = [...upserts].map(([key, value]) => ({ key, value }));
  }

  /** True when no override changes anything (the plain path applies). */
  get isIdentity(): boolean {
    return this.rules.size === 0;
  }

  disabled(metric: string): boolean {
    return this.rules.get(metric)?.disabled ?? false;
  }

  /** The labels `metric` is exported with; undefined when the metric is disabled. */
  project(
    metric: string,
    labels: Readonly<Record<string, string>>,
    extras: Readonly<Record<string, string>> | undefined,
  ): Record<string, string> | undefined {
    const rule = this.rules.get(metric);
    if (!rule) return { ...labels };
    if (rule.disabled) return undefined;
    const out: Record<string, string> = { ...labels };
    for (const op of rule.ops) {
      if (op.remove) delete out[op.tag];
      else out[op.tag] = extras?.[extraKey(metric, op.tag)] ?? 'unknown';
    }
    return out;
  }
}

/** A series' identity in the caches: its view and its extras (empty for the plain path). */
export function viewKey(view: MetricsView | undefined, extras: Readonly<Record<string, string>> | undefined): string {
  if (!view || view.isIdentity) return '';
  let key = `\u0002${view.id}`;
  if (extras) for (const k of Object.keys(extras).sort()) key += `\u0003${k}=${extras[k]}`;
  return key;
}
