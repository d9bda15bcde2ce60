// Telemetry (telemetry.istio.io v1/v1alpha1) → TelemetryPolicy in the mesh settings, which
// agents and waypoints resolve per reporter (core/telemetry/policy.ts). Applied: metrics
// overrides (disabled, tagOverrides REMOVE / UPSERT with the expressions of
// core/telemetry/expressions.ts) for the prometheus provider; accessLogging with Envoy file
// providers (the built-in `envoy` = /dev/stdout, or meshConfig extensionProviders
// envoyFileAccessLog) and `filter.expression` on response.code; tracing
// randomSamplingPercentage and disableSpanReporting. Anything Ambit cannot do as written
// rejects the object, naming the field; the rest of the mesh is unaffected.
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import type { MeshConfig, PolicyScope } from '../../core/model/types.js';
import {
  type AccessLogRule,
  type AccessLogSink,
  type MetricOverride,
  type TagOverride,
  type TelemetryMode,
  type TelemetryPolicy,
  type TracingRule,
} from '../../core/telemetry/policy.js';
import { parseFilterExpression, parseValueExpression } from '../../core/telemetry/expressions.js';
import { byKey } from './collections.js';
import { Issues } from './validate/common.js';
import { rejectionFor, type Rejection } from './inventory.js';
import { meshConfigDocOf } from './mesh-config.js';
import { providerKind } from './extension-providers.js';
import { decodeIstioObject, type IstioObject } from './decode-object.js';
import * as ext from '../../core/crds/extensions.js';
import type { TelemetrySpec } from '../../core/crds/types.js';

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

type Metrics = NonNullable<TelemetrySpec['metrics']>[number];
type Override = NonNullable<Metrics['overrides']>[number];
type AccessLogging = NonNullable<TelemetrySpec['accessLogging']>[number];
type Tracing = NonNullable<TelemetrySpec['tracing']>[number];

/** meshConfig `extensionProviders` of kind envoyFileAccessLog, and `defaultProviders.accessLogging`. */
function accessLogProviders(objects: readonly KubeObject[], rootNamespace: string): AccessLogProviders {
  const paths = new Map<string, string>([[DEFAULT_ACCESS_LOG_PROVIDER, '/dev/stdout']]);
  const formatted = new Set<string>();
  const others = new Map<string, string>();
  // A mesh ConfigMap that does not decode is reported by the mesh settings translator.
  const mesh = meshConfigDocOf(objects, rootNamespace);
  for (const p of mesh?.extensionProviders ?? []) {
    if (!p.name) continue;
    const file = p.envoyFileAccessLog;
    if (file) paths.set(p.name, file.path ?? '/dev/stdout');
    if (file?.logFormat !== undefined) formatted.add(p.name);
    else others.set(p.name, providerKind(p) ?? 'none');
  }
  return { paths, formatted, others, defaults: mesh?.defaultProviders?.accessLogging ?? [] };
}

function modeOf(match: { readonly mode?: TelemetryMode } | undefined): TelemetryMode {
  return match?.mode ?? 'CLIENT_AND_SERVER';
}

function targetRefsOf(spec: TelemetrySpec): { readonly ref: NonNullable<TelemetrySpec['targetRef']>; at: string }[] {
  return [
    ...(spec.targetRefs ?? []).map((ref, i) => ({ ref, at: `spec.targetRefs[${i}]` })),
    ...(spec.targetRef ? [{ ref: spec.targetRef, at: 'spec.targetRef' }] : []),
  ];
}

function scopeOf(obj: IstioObject<TelemetrySpec>, rootNamespace: string): PolicyScope {
  const namespace = obj.metadata.namespace ?? 'default';
  const refs = targetRefsOf(obj.spec).map(({ ref }) => ({
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
  }));
  if (refs.length > 0) return { namespace, level: 'workload', targetRefs: refs };
  const selector = obj.spec.selector?.matchLabels ?? {};
  if (Object.keys(selector).length > 0) return { namespace, level: 'workload', selector };
  return { namespace, level: namespace === rootNamespace ? 'mesh' : 'namespace' };
}

function tagOverridesOf(o: Override, oat: string, issues: Issues): TagOverride[] {
  const tags: TagOverride[] = [];
  for (const [tag, t] of Object.entries(o.tagOverrides ?? {})) {
    const tat = `${oat}.tagOverrides.${tag}`;
    if (!TAG_NAME.test(tag) || NOT_APPLIED_TAGS.has(tag)) {
      issues.add(tat, `tag "${tag}" cannot be overridden (a Prometheus label name other than reporter)`);
      continue;
    }
    if (t.operation === 'REMOVE') {
      tags.push({ tag, operation: 'REMOVE' });
      continue;
    }
    if (t.value === undefined) {
      issues.add(`${tat}.value`, 'UPSERT needs a value expression');
      continue;
    }
    const parsed = parseValueExpression(t.value);
    if ('error' in parsed) issues.add(`${tat}.value`, parsed.error);
    else tags.push({ tag, operation: 'UPSERT', value: parsed.ok });
  }
  return tags;
}

function metricsOf(spec: TelemetrySpec, issues: Issues): MetricOverride[] {
  const out: MetricOverride[] = [];
  spec.metrics?.forEach((m, i) => {
    const at = `spec.metrics[${i}]`;
    m.providers?.forEach((p, j) => {
      const name = p.name ?? '';
      if (!METRICS_PROVIDERS.has(name))
        issues.add(`${at}.providers[${j}].name`, `provider "${name}" is not served: Ambit's metrics are Prometheus'`);
    });
    m.overrides?.forEach((o, j) => {
      const oat = `${at}.overrides[${j}]`;
      if (o.match?.customMetric !== undefined)
        issues.add(`${oat}.match.customMetric`, 'custom metrics are not supported (Ambit has no metric of that name)');
      const metric = o.match?.metric ?? 'ALL_METRICS';
      const tags = tagOverridesOf(o, oat, issues);
      // GRPC_* message counts are not emitted by Ambit: an override of them changes nothing.
      if (metric === 'GRPC_REQUEST_MESSAGES' || metric === 'GRPC_RESPONSE_MESSAGES') return;
      out.push({
        metrics: metric === 'ALL_METRICS' ? [] : [metric],
        mode: modeOf(o.match),
        ...(o.disabled !== undefined ? { disabled: o.disabled } : {}),
        tags,
      });
    });
  });
  return out;
}

function sinksOf(a: AccessLogging, at: string, providers: AccessLogProviders, issues: Issues): AccessLogSink[] {
  const named = (a.providers ?? []).map((p) => p.name ?? '');
  const names = named.length > 0 ? named : providers.defaults.length > 0 ? providers.defaults : ['envoy'];
  const sinks: AccessLogSink[] = [];
  names.forEach((name, j) => {
    const field = named.length > 0 ? `${at}.providers[${j}].name` : `${at}.providers`;
    const path = providers.paths.get(name);
    if (path && providers.formatted.has(name))
      issues.add(
        field,
        `provider "${name}" sets envoyFileAccessLog.logFormat, which Ambit does not apply ` +
          "(it writes Envoy's default fields as one JSON object per line): remove logFormat",
      );
    else if (path) sinks.push({ provider: name, path });
    else
      issues.add(
        field,
        providers.others.has(name)
          ? `provider "${name}" (${providers.others.get(name)}) is not served: Ambit writes Envoy file access logs only`
          : `provider "${name}" is not defined in meshConfig extensionProviders`,
      );
  });
  return sinks;
}

function accessLoggingOf(spec: TelemetrySpec, providers: AccessLogProviders, issues: Issues): AccessLogRule[] {
  return (spec.accessLogging ?? []).map((a, i) => {
    const at = `spec.accessLogging[${i}]`;
    const sinks = sinksOf(a, at, providers, issues);
    const expression = a.filter?.expression;
    const filter = expression === undefined ? undefined : parseFilterExpression(expression);
    if (filter && 'error' in filter) issues.add(`${at}.filter.expression`, filter.error);
    return {
      mode: modeOf(a.match),
      ...(a.disabled !== undefined ? { disabled: a.disabled } : {}),
      sinks,
      ...(filter && 'ok' in filter ? { filter: filter.ok } : {}),
    };
  });
}

function tracingOf(spec: TelemetrySpec, issues: Issues): TracingRule[] {
  return (spec.tracing ?? []).map((t: Tracing, i) => {
    const p = t.randomSamplingPercentage;
    if (p !== undefined && (p < 0 || p > 100))
      issues.add(`spec.tracing[${i}].randomSamplingPercentage`, `percentage ${p} must be 0..100`);
    return {
      mode: modeOf(t.match),
      ...(p !== undefined ? { randomSamplingPercentage: p } : {}),
      ...(t.disableSpanReporting !== undefined ? { disableSpanReporting: t.disableSpanReporting } : {}),
    };
  });
}

function checkScope(spec: TelemetrySpec, issues: Issues): void {
  if (spec.selector !== undefined && (spec.targetRef !== undefined || spec.targetRefs !== undefined))
    issues.add('spec.selector', 'selector and targetRefs are mutually exclusive');
  for (const { ref, at } of targetRefsOf(spec)) {
    if (ref.kind !== 'Gateway' && ref.kind !== 'Service')
      issues.add(`${at}.kind`, `kind "${ref.kind}" is not supported (Gateway or Service)`);
  }
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
  for (const raw of objects) {
    if (raw.kind !== 'Telemetry' || !(raw.apiVersion ?? '').startsWith('telemetry.istio.io/')) continue;
    if (!raw.metadata?.name) continue;
    const reject = (issues: readonly { field: string; reason: string }[]): void => {
      for (const i of issues) rejected.push(rejectionFor(raw, i.field, i.reason, origins));
    };
    if (!VERSIONS.includes(raw.apiVersion)) {
      reject([
        { field: 'apiVersion', reason: `${raw.apiVersion} is not served for Telemetry (use ${VERSIONS.join(', ')})` },
      ]);
      continue;
    }
    const decoded = decodeIstioObject(raw, ext.telemetry);
    if (decoded.issues.length > 0) {
      reject(decoded.issues);
      continue;
    }
    const obj = decoded.value;
    const { spec } = obj;
    const issues = new Issues();
    checkScope(spec, issues);
    const metrics = metricsOf(spec, issues);
    const accessLogging = accessLoggingOf(spec, providers, issues);
    const tracing = tracingOf(spec, issues);
    if (!issues.empty) {
      reject(issues.list);
      continue;
    }
    const key = `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
    out.set(key, {
      key,
      scope: scopeOf(obj, mesh.rootNamespace),
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
