// Telemetry (telemetry.istio.io v1/v1alpha1) → TelemetryPolicy in the mesh settings, which
// agents and waypoints resolve per reporter (core/telemetry/policy.ts). Applied: metrics
// overrides (disabled, tagOverrides REMOVE / UPSERT with the expressions of
// core/telemetry/expressions.ts) for the prometheus provider; accessLogging with Envoy file
// providers (the built-in `envoy` = /dev/stdout, or meshConfig extensionProviders
// envoyFileAccessLog) and `filter.expression` on response.code; tracing
// randomSamplingPercentage and disableSpanReporting. Anything Ambit cannot do as written
// rejects the object, naming the field; the rest of the mesh is unaffected.
import { parse } from 'yaml';
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import type { MeshConfig, PolicyScope } from '../../core/model/types.js';
import {
  ISTIO_METRICS,
  type AccessLogRule,
  type AccessLogSink,
  type IstioMetric,
  type MetricOverride,
  type TagOverride,
  type TelemetryMode,
  type TelemetryPolicy,
  type TracingRule,
} from '../../core/telemetry/policy.js';
import { parseFilterExpression, parseValueExpression } from '../../core/telemetry/expressions.js';
import { arr, byKey, rec, recs, str, stringMap, type Raw } from './raw.js';
import { Issues } from './validate/common.js';
import { checkObjectSchema } from './validate/schema-check.js';
import { rejectionFor, type Rejection } from './inventory.js';
import { isMeshConfigMap } from './mesh-config.js';

const VERSIONS = ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'];
/** Istio's built-in access log provider: Envoy's file access log to /dev/stdout. */
export const DEFAULT_ACCESS_LOG_PROVIDER = 'envoy';
/** Metrics providers Ambit serves (its /metrics is Prometheus'). */
const METRICS_PROVIDERS = new Set(['prometheus']);
const TAG_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NOT_APPLIED_TAGS = new Set(['reporter']);

interface AccessLogProviders {
  readonly paths: ReadonlyMap<string, string>;
  /** File providers with a logFormat (Ambit writes Envoy's default fields as JSON only). */
  readonly formatted: ReadonlySet<string>;
  /** Other providers by name and kind (not served). */
  readonly others: ReadonlyMap<string, string>;
  readonly defaults: readonly string[];
}

/** meshConfig `extensionProviders` of kind envoyFileAccessLog, and `defaultProviders.accessLogging`. */
function accessLogProviders(objects: readonly KubeObject[], rootNamespace: string): AccessLogProviders {
  const paths = new Map<string, string>([[DEFAULT_ACCESS_LOG_PROVIDER, '/dev/stdout']]);
  const formatted = new Set<string>();
  const others = new Map<string, string>();
  let defaults: string[] = [];
  const cm = objects.find((o) => isMeshConfigMap(o, rootNamespace));
  const text = str(rec(cm?.data)?.mesh);
  if (!text) return { paths, formatted, others, defaults };
  let mesh: Raw | undefined;
  try {
    mesh = rec(parse(text));
  } catch {
    return { paths, formatted, others, defaults }; // the mesh settings translator reports it
  }
  for (const p of recs(mesh?.extensionProviders)) {
    const name = str(p.name);
    if (!name) continue;
    const file = rec(p.envoyFileAccessLog);
    if (file) paths.set(name, str(file.path) ?? '/dev/stdout');
    if (file?.logFormat !== undefined) formatted.add(name);
    else others.set(name, Object.keys(p).find((k) => k !== 'name') ?? 'none');
  }
  defaults = arr(rec(mesh?.defaultProviders)?.accessLogging).filter((x): x is string => typeof x === 'string');
  return { paths, formatted, others, defaults };
}

function modeOf(match: unknown): TelemetryMode {
  const m = str(rec(match)?.mode);
  return m === 'CLIENT' || m === 'SERVER' ? m : 'CLIENT_AND_SERVER';
}

function scopeOf(obj: KubeObject, spec: Raw, rootNamespace: string): PolicyScope {
  const namespace = obj.metadata.namespace ?? 'default';
  const refs = [...recs(spec.targetRefs), ...(rec(spec.targetRef) ? [rec(spec.targetRef)!] : [])].map((r) => ({
    kind: str(r.kind) ?? '',
    name: str(r.name) ?? '',
    ...(str(r.namespace) ? { namespace: str(r.namespace)! } : {}),
  }));
  if (refs.length > 0) return { namespace, level: 'workload', targetRefs: refs };
  const selector = stringMap(rec(spec.selector)?.matchLabels);
  if (Object.keys(selector).length > 0) return { namespace, level: 'workload', selector };
  return { namespace, level: namespace === rootNamespace ? 'mesh' : 'namespace' };
}

function metricsOf(spec: Raw, issues: Issues): MetricOverride[] {
  const out: MetricOverride[] = [];
  recs(spec.metrics).forEach((m, i) => {
    const at = `spec.metrics[${i}]`;
    recs(m.providers).forEach((p, j) => {
      const name = str(p.name) ?? '';
      if (!METRICS_PROVIDERS.has(name))
        issues.add(`${at}.providers[${j}].name`, `provider "${name}" is not served: Ambit's metrics are Prometheus'`);
    });
    recs(m.overrides).forEach((o, j) => {
      const oat = `${at}.overrides[${j}]`;
      const match = rec(o.match);
      if (match?.customMetric !== undefined)
        issues.add(`${oat}.match.customMetric`, 'custom metrics are not supported (Ambit has no metric of that name)');
      const metric = str(match?.metric) ?? 'ALL_METRICS';
      const known = metric === 'ALL_METRICS' || metric in ISTIO_METRICS || metric.startsWith('GRPC_');
      if (!known) {
        issues.add(
          `${oat}.match.metric`,
          `unknown metric "${metric}" (one of ALL_METRICS, ${Object.keys(ISTIO_METRICS).join(', ')})`,
        );
        return;
      }
      const tags: TagOverride[] = [];
      for (const [tag, raw] of Object.entries(rec(o.tagOverrides) ?? {})) {
        const tat = `${oat}.tagOverrides.${tag}`;
        const t = rec(raw) ?? {};
        if (!TAG_NAME.test(tag) || NOT_APPLIED_TAGS.has(tag)) {
          issues.add(tat, `tag "${tag}" cannot be overridden (a Prometheus label name other than reporter)`);
          continue;
        }
        if (str(t.operation) === 'REMOVE') {
          tags.push({ tag, operation: 'REMOVE' });
          continue;
        }
        const value = str(t.value);
        if (value === undefined) {
          issues.add(`${tat}.value`, 'UPSERT needs a value expression');
          continue;
        }
        const parsed = parseValueExpression(value);
        if ('error' in parsed) issues.add(`${tat}.value`, parsed.error);
        else tags.push({ tag, operation: 'UPSERT', value: parsed.ok });
      }
      // GRPC_* message counts are not emitted by Ambit: an override of them changes nothing.
      if (metric.startsWith('GRPC_')) return;
      out.push({
        metrics: metric === 'ALL_METRICS' ? [] : [metric as IstioMetric],
        mode: modeOf(match),
        ...(typeof o.disabled === 'boolean' ? { disabled: o.disabled } : {}),
        tags,
      });
    });
  });
  return out;
}

function accessLoggingOf(spec: Raw, providers: AccessLogProviders, issues: Issues): AccessLogRule[] {
  return recs(spec.accessLogging).map((a, i) => {
    const at = `spec.accessLogging[${i}]`;
    const named = recs(a.providers).map((p) => str(p.name) ?? '');
    const names = named.length > 0 ? named : providers.defaults.length > 0 ? providers.defaults : ['envoy'];
    const sinks: AccessLogSink[] = [];
    names.forEach((name, j) => {
      const path = providers.paths.get(name);
      if (path && providers.formatted.has(name))
        issues.add(
          named.length > 0 ? `${at}.providers[${j}].name` : `${at}.providers`,
          `provider "${name}" sets envoyFileAccessLog.logFormat, which Ambit does not apply ` +
            "(it writes Envoy's default fields as one JSON object per line): remove logFormat",
        );
      else if (path) sinks.push({ provider: name, path });
      else
        issues.add(
          named.length > 0 ? `${at}.providers[${j}].name` : `${at}.providers`,
          providers.others.has(name)
            ? `provider "${name}" (${providers.others.get(name)}) is not served: Ambit writes Envoy file access logs only`
            : `provider "${name}" is not defined in meshConfig extensionProviders`,
        );
    });
    const expression = str(rec(a.filter)?.expression);
    const filter = expression === undefined ? undefined : parseFilterExpression(expression);
    if (filter && 'error' in filter) issues.add(`${at}.filter.expression`, filter.error);
    return {
      mode: modeOf(a.match),
      ...(typeof a.disabled === 'boolean' ? { disabled: a.disabled } : {}),
      sinks,
      ...(filter && 'ok' in filter ? { filter: filter.ok } : {}),
    };
  });
}

function tracingOf(spec: Raw): TracingRule[] {
  return recs(spec.tracing).map((t) => ({
    mode: modeOf(t.match),
    ...(typeof t.randomSamplingPercentage === 'number' ? { randomSamplingPercentage: t.randomSamplingPercentage } : {}),
    ...(typeof t.disableSpanReporting === 'boolean' ? { disableSpanReporting: t.disableSpanReporting } : {}),
  }));
}

function checkScope(spec: Raw, issues: Issues): void {
  if (spec.selector !== undefined && (spec.targetRef !== undefined || spec.targetRefs !== undefined))
    issues.add('spec.selector', 'selector and targetRefs are mutually exclusive');
  const refs = [...recs(spec.targetRefs), ...(rec(spec.targetRef) ? [rec(spec.targetRef)!] : [])];
  refs.forEach((r, i) => {
    const kind = str(r.kind);
    if (kind !== 'Gateway' && kind !== 'Service')
      issues.add(`spec.targetRefs[${i}].kind`, `kind "${kind ?? ''}" is not supported (Gateway or Service)`);
  });
}

/** Every valid Telemetry as a TelemetryPolicy (sorted by key); the others become rejections. */
export function buildTelemetry(
  objects: readonly KubeObject[],
  mesh: Pick<MeshConfig, 'rootNamespace'>,
  rejected: Rejection[],
  origins?: ReadonlyMap<string, ObjectOrigin>,
): TelemetryPolicy[] {
  const providers = accessLogProviders(objects, mesh.rootNamespace);
  const out = new Map<string, TelemetryPolicy>();
  for (const obj of objects) {
    if (obj.kind !== 'Telemetry' || !(obj.apiVersion ?? '').startsWith('telemetry.istio.io/')) continue;
    if (!obj.metadata?.name) continue;
    const issues = new Issues();
    if (!VERSIONS.includes(obj.apiVersion))
      issues.add('apiVersion', `${obj.apiVersion} is not served for Telemetry (use ${VERSIONS.join(', ')})`);
    checkObjectSchema(issues, obj);
    const spec = rec((obj as { spec?: unknown }).spec) ?? {};
    checkScope(spec, issues);
    const metrics = metricsOf(spec, issues);
    const accessLogging = accessLoggingOf(spec, providers, issues);
    const tracing = tracingOf(spec);
    recs(spec.tracing).forEach((t, i) => {
      const p = t.randomSamplingPercentage;
      if (p !== undefined && (typeof p !== 'number' || p < 0 || p > 100))
        issues.add(`spec.tracing[${i}].randomSamplingPercentage`, `percentage ${JSON.stringify(p)} must be 0..100`);
    });
    if (!issues.empty) {
      for (const i of issues.list) rejected.push(rejectionFor(obj, i.field, i.reason, origins));
      continue;
    }
    const key = `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
    out.set(key, {
      key,
      scope: scopeOf(obj, spec, mesh.rootNamespace),
      ...(spec.metrics !== undefined ? { metrics } : {}),
      ...(spec.accessLogging !== undefined ? { accessLogging } : {}),
      ...(spec.tracing !== undefined ? { tracing } : {}),
    });
  }
  return [...out.values()].sort(byKey((p) => p.key));
}

/** The mesh settings with the Telemetry resources agents and waypoints resolve (none: unchanged). */
export function withTelemetry(
  mesh: MeshConfig,
  objects: readonly KubeObject[],
  rejected: Rejection[],
  origins?: ReadonlyMap<string, ObjectOrigin>,
): MeshConfig {
  const telemetry = buildTelemetry(objects, mesh, rejected, origins);
  return telemetry.length > 0 ? { ...mesh, telemetry } : mesh;
}
