// What a reporter (the agent for a pod, a waypoint) does with the Telemetry API: the effective
// configuration per target, cached until the mesh's Telemetry resources change; the UPSERT
// tag values of one connection or request; and the access log lines written to the providers'
// files (Envoy's file access log: `/dev/stdout` or a path), one JSON object per line.
import { createWriteStream, type WriteStream } from 'node:fs';
import { MetricsView } from '../metrics/projection.js';
import type { MeshConfig } from '../model/types.js';
import {
  filterPasses,
  resolveTelemetry,
  type Attribute,
  type EffectiveTelemetry,
  type TelemetryPolicy,
  type TelemetryTarget,
  type ValueExpr,
} from './policy.js';

export interface ResolvedTelemetry {
  readonly effective: EffectiveTelemetry;
  /** Undefined when no metric override applies (the plain path). */
  readonly view?: MetricsView;
}

const MAX_CACHED = 4096;
const NO_TELEMETRY: ResolvedTelemetry = {
  effective: { metricOverrides: [], accessLoggingDisabled: false, disableSpanReporting: false, from: [] },
};

function targetKey(t: TelemetryTarget): string {
  let key = `${t.mode}|${t.namespace}|${t.gateway ?? ''}|${t.service ?? ''}`;
  for (const k of Object.keys(t.labels).sort()) key += `|${k}=${t.labels[k]}`;
  return key;
}

/** Effective Telemetry per target, recomputed only when the mesh's resources change. */
export class TelemetryResolver {
  private policies: readonly TelemetryPolicy[] | undefined;
  private readonly cache = new Map<string, ResolvedTelemetry>();

  resolve(mesh: Pick<MeshConfig, 'telemetry' | 'rootNamespace'>, t: TelemetryTarget): ResolvedTelemetry {
    if (!mesh.telemetry || mesh.telemetry.length === 0) return NO_TELEMETRY;
    if (mesh.telemetry !== this.policies || this.cache.size > MAX_CACHED) {
      this.policies = mesh.telemetry;
      this.cache.clear();
    }
    const key = targetKey(t);
    let hit = this.cache.get(key);
    if (!hit) {
      const effective = resolveTelemetry(mesh.telemetry, mesh.rootNamespace, t);
      const view = effective.metricOverrides.length > 0 ? new MetricsView(effective.metricOverrides) : undefined;
      hit = { effective, ...(view && !view.isIdentity ? { view } : {}) };
      this.cache.set(key, hit);
    }
    return hit;
  }
}

/** Reads the attributes and request headers a tag value may name. */
export interface AttributeSource {
  attribute(name: Attribute): string | number | boolean | undefined;
  requestHeader?(name: string): string | undefined;
}

export function evaluate(expr: ValueExpr, src: AttributeSource): string | undefined {
  if ('literal' in expr) return expr.literal;
  if ('requestHeader' in expr) return src.requestHeader?.(expr.requestHeader);
  const v = src.attribute(expr.attribute);
  return v === undefined ? undefined : String(v);
}

/** The UPSERT values of one connection or request, for its series' extras. */
export function extrasOf(view: MetricsView | undefined, src: AttributeSource): Record<string, string> | undefined {
  if (!view || view.upserts.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const u of view.upserts) out[u.key] = evaluate(u.value, src) ?? 'unknown';
  return out;
}

/** Writes access log lines to the providers' files; streams are opened once per path. */
export class AccessLogWriter {
  private readonly streams = new Map<string, WriteStream>();

  constructor(private readonly stdout: (line: string) => void = (line) => process.stdout.write(line)) {}

  /** One line per sink of the effective access logging, if its filter passes. */
  write(t: EffectiveTelemetry, responseCode: number | undefined, entry: Readonly<Record<string, unknown>>): void {
    const log = t.accessLogging;
    if (!log || !filterPasses(log.filter, responseCode)) return;
    const line = JSON.stringify(entry) + '\n';
    for (const path of new Set(log.sinks.map((s) => s.path))) {
      if (path === '/dev/stdout') this.stdout(line);
      else this.stream(path).write(line);
    }
  }

  private stream(path: string): WriteStream {
    let s = this.streams.get(path);
    if (!s) {
      s = createWriteStream(path, { flags: 'a' });
      // A file that cannot be written is not a reason to fail traffic: drop its lines.
      s.on('error', () => this.streams.delete(path));
      this.streams.set(path, s);
    }
    return s;
  }

  close(): void {
    for (const s of this.streams.values()) s.end();
    this.streams.clear();
  }
}
