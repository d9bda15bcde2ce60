// The Telemetry API (telemetry.istio.io Telemetry) as the mesh model carries it, and its
// resolution for one reporter. Istio's precedence: a resource in the root namespace applies
// mesh-wide, one without a selector in a namespace overrides it for that namespace, and one
// selecting a workload (selector, or targetRefs naming a waypoint's Gateway or a Service)
// overrides both for that workload. Within a level the first by `<ns>/<name>` wins (Istio
// takes the oldest; the model has no creation times).
// - metrics: overrides accumulate root → namespace → workload, applied in that order, so
//   the most specific one wins for a metric and tag;
// - accessLogging and tracing: the most specific level that sets them replaces the others.
import type { Labels, PolicyScope } from '../model/types.js';

export type TelemetryMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';

/** Istio's standard metric names in Telemetry `metrics[].overrides[].match.metric`. */
export const ISTIO_METRICS = {
  REQUEST_COUNT: 'istio_requests_total',
  REQUEST_DURATION: 'istio_request_duration_milliseconds',
  REQUEST_SIZE: 'istio_request_bytes',
  RESPONSE_SIZE: 'istio_response_bytes',
  TCP_OPENED_CONNECTIONS: 'istio_tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'istio_tcp_connections_closed_total',
  TCP_SENT_BYTES: 'istio_tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'istio_tcp_received_bytes_total',
} as const;
export type IstioMetric = keyof typeof ISTIO_METRICS;

/** Request/connection attributes a tag value or filter may read (a subset of Envoy's). */
export const ATTRIBUTES = [
  'request.host',
  'request.method',
  'request.path',
  'request.url_path',
  'request.scheme',
  'request.protocol',
  'request.id',
  'request.useragent',
  'request.referer',
  'response.code',
  'response.flags',
  'source.address',
  'source.port',
  'source.principal',
  'destination.address',
  'destination.port',
  'destination.principal',
  'connection.mtls',
] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

/** A tag override's value: a literal, an attribute, or a request header. */
export type ValueExpr =
  { readonly literal: string } | { readonly attribute: Attribute } | { readonly requestHeader: string };

export interface TagOverride {
  readonly tag: string;
  readonly operation: 'UPSERT' | 'REMOVE';
  /** For UPSERT. */
  readonly value?: ValueExpr;
}

export interface MetricOverride {
  /** The metrics it applies to; empty = every metric (Istio ALL_METRICS). */
  readonly metrics: readonly IstioMetric[];
  readonly mode: TelemetryMode;
  readonly disabled?: boolean;
  readonly tags: readonly TagOverride[];
}

export interface CodeComparison {
  readonly op: '==' | '!=' | '<' | '<=' | '>' | '>=';
  readonly value: number;
}

/** `response.code` comparisons: any of the groups matches when all of its comparisons hold. */
export interface LogFilter {
  readonly expression: string;
  readonly anyOf: readonly (readonly CodeComparison[])[];
}

/** Where access log lines go: `/dev/stdout` or a file path (Envoy's file access log). */
export interface AccessLogSink {
  readonly provider: string;
  readonly path: string;
}

export interface AccessLogRule {
  readonly mode: TelemetryMode;
  readonly disabled?: boolean;
  readonly sinks: readonly AccessLogSink[];
  readonly filter?: LogFilter;
}

export interface TracingRule {
  readonly mode: TelemetryMode;
  /** 0..100; absent = inherited (finally meshConfig traceSampling). */
  readonly randomSamplingPercentage?: number;
  readonly disableSpanReporting?: boolean;
}

export interface TelemetryPolicy {
  /** `<ns>/<name>` */
  readonly key: string;
  readonly scope: PolicyScope;
  /** Present when the resource sets `metrics`. */
  readonly metrics?: readonly MetricOverride[];
  readonly accessLogging?: readonly AccessLogRule[];
  readonly tracing?: readonly TracingRule[];
}

/** The reporter whose telemetry is resolved: a workload (or a waypoint) and its direction. */
export interface TelemetryTarget {
  readonly namespace: string;
  readonly labels: Labels;
  /** A waypoint's Gateway name: Telemetry `targetRefs` of kind Gateway select it. */
  readonly gateway?: string;
  /** A Service (by name, in `namespace`) the traffic is addressed to: `targetRefs` of kind Service. */
  readonly service?: string;
  /** CLIENT for the source side (agent outbound), SERVER for the destination side and waypoints. */
  readonly mode: 'CLIENT' | 'SERVER';
}

export interface EffectiveTelemetry {
  /** Overrides that apply, in order (later wins). */
  readonly metricOverrides: readonly MetricOverride[];
  /** Undefined: no Telemetry sets access logging (the component's own default applies). */
  readonly accessLogging?: { readonly sinks: readonly AccessLogSink[]; readonly filter?: LogFilter };
  /** True when a Telemetry turns access logging off for this reporter. */
  readonly accessLoggingDisabled: boolean;
  readonly samplingPercentage?: number;
  readonly disableSpanReporting: boolean;
  /** The resources that applied, most general first. */
  readonly from: readonly string[];
}

const modeApplies = (m: TelemetryMode, mode: 'CLIENT' | 'SERVER'): boolean => m === 'CLIENT_AND_SERVER' || m === mode;

function selects(p: TelemetryPolicy, t: TelemetryTarget): boolean {
  const refs = p.scope.targetRefs;
  if (refs && refs.length > 0) {
    return refs.some(
      (r) =>
        (r.namespace ?? p.scope.namespace) === t.namespace &&
        ((r.kind === 'Gateway' && r.name === t.gateway) || (r.kind === 'Service' && r.name === t.service)),
    );
  }
  const sel = p.scope.selector ?? {};
  return Object.entries(sel).every(([k, v]) => t.labels[k] === v);
}

/** The policies of each level that apply to `t`, most general first (at most one per level). */
export function applicablePolicies(
  policies: readonly TelemetryPolicy[] | undefined,
  rootNamespace: string,
  t: TelemetryTarget,
): TelemetryPolicy[] {
  const sorted = [...(policies ?? [])].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const root = sorted.find((p) => p.scope.level === 'mesh' && p.scope.namespace === rootNamespace);
  const ns =
    t.namespace === rootNamespace && root
      ? undefined
      : sorted.find((p) => p.scope.level === 'namespace' && p.scope.namespace === t.namespace);
  const wl = sorted.find((p) => p.scope.level === 'workload' && p.scope.namespace === t.namespace && selects(p, t));
  return [root, ns, wl].filter((p): p is TelemetryPolicy => p !== undefined);
}

export function resolveTelemetry(
  policies: readonly TelemetryPolicy[] | undefined,
  rootNamespace: string,
  t: TelemetryTarget,
): EffectiveTelemetry {
  const chain = applicablePolicies(policies, rootNamespace, t);
  const metricOverrides = chain.flatMap((p) => (p.metrics ?? []).filter((o) => modeApplies(o.mode, t.mode)));
  let accessLogging: EffectiveTelemetry['accessLogging'];
  let accessLoggingDisabled = false;
  let samplingPercentage: number | undefined;
  let disableSpanReporting = false;
  for (const p of chain) {
    const logs = p.accessLogging?.filter((r) => modeApplies(r.mode, t.mode));
    if (logs && logs.length > 0) {
      const on = logs.filter((r) => !r.disabled);
      accessLoggingDisabled = on.length === 0;
      accessLogging = on.length === 0 ? undefined : { sinks: on.flatMap((r) => r.sinks), filter: firstFilter(on) };
    }
    const traces = p.tracing?.filter((r) => modeApplies(r.mode, t.mode)) ?? [];
    for (const r of traces) {
      if (r.randomSamplingPercentage !== undefined) samplingPercentage = r.randomSamplingPercentage;
      if (r.disableSpanReporting !== undefined) disableSpanReporting = r.disableSpanReporting;
    }
  }
  return {
    metricOverrides,
    ...(accessLogging ? { accessLogging } : {}),
    accessLoggingDisabled,
    ...(samplingPercentage !== undefined ? { samplingPercentage } : {}),
    disableSpanReporting,
    from: chain.map((p) => p.key),
  };
}

function firstFilter(rules: readonly AccessLogRule[]): LogFilter | undefined {
  return rules.find((r) => r.filter)?.filter;
}

/** Whether a filter lets a line through (no filter: every line; no response code: no line). */
export function filterPasses(f: LogFilter | undefined, responseCode: number | undefined): boolean {
  if (!f) return true;
  if (responseCode === undefined) return false;
  return f.anyOf.some((group) => group.every((c) => compare(responseCode, c)));
}

function compare(code: number, c: CodeComparison): boolean {
  switch (c.op) {
    case '==':
      return code === c.value;
    case '!=':
      return code !== c.value;
    case '<':
      return code < c.value;
    case '<=':
      return code <= c.value;
    case '>':
      return code > c.value;
    case '>=':
      return code >= c.value;
  }
}
