// OpenTelemetry tracing of the waypoint: W3C trace context (`traceparent`) is continued or
// started for every request, the sampling decision is the caller's when it sent one, else
// `mesh.traceSampling` percent, or what the Telemetry API sets for this waypoint (`policy`,
// randomSamplingPercentage; disableSpanReporting keeps the context but exports nothing); sampled spans are exported in batches over OTLP/HTTP (JSON
// encoding, POST <endpoint>/v1/traces). Export never blocks or fails a request.
import { randomFillSync } from 'node:crypto';
import type { Logger } from '../core/log.js';
import { describeError } from '../core/errors.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly sampled: boolean;
  /** The `traceparent` to send upstream: same trace, this span as the parent. */
  readonly traceparent: string;
}

export interface FinishedSpan {
  readonly name: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly status: number;
  readonly attributes: Readonly<Record<string, string | number>>;
}

export interface TracerOptions {
  /** OTLP/HTTP base URL, e.g. http://otel-collector:4318; none = no export (context still propagated). */
  readonly endpoint?: string;
  readonly serviceName: string;
  readonly log: Logger;
  readonly random?: () => number;
  readonly flushIntervalMs?: number;
  readonly maxBatch?: number;
  /** Telemetry API tracing for this waypoint, read per request; undefined = the mesh's settings. */
  readonly policy?: () => { readonly percent?: number; readonly report: boolean } | undefined;
}

// Ids come from a pooled random buffer: one randomFillSync per 4 KiB instead of two per
// request (every request gets a span id and, without a caller's trace, a trace id).
const ID_POOL_BYTES = 4096;
let idPool = Buffer.alloc(0);
let idOffset = 0;

function randomHex(bytes: number): string {
  if (idOffset + bytes > idPool.length) {
    idPool = randomFillSync(Buffer.allocUnsafe(ID_POOL_BYTES));
    idOffset = 0;
  }
  const hex = idPool.toString('hex', idOffset, idOffset + bytes);
  idOffset += bytes;
  return hex;
}

export class Tracer {
  private batch: Array<{ ctx: SpanContext; span: FinishedSpan }> = [];
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: TracerOptions) {
    if (o.endpoint) {
      this.timer = setInterval(() => void this.flush(), o.flushIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Continues the caller's trace or starts one, sampling `percent` of new traces. */
  start(traceparent: string | undefined, meshPercent: number): SpanContext {
    const percent = this.o.policy?.()?.percent ?? meshPercent;
    const m = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
    const spanId = randomHex(8);
    const valid = m && !/^0+$/.test(m[1]!) && !/^0+$/.test(m[2]!);
    const traceId = valid ? m[1]! : randomHex(16);
    const sampled = valid ? (parseInt(m[3]!, 16) & 1) === 1 : (this.o.random ?? Math.random)() * 100 < percent;
    return {
      traceId,
      spanId,
      sampled,
      ...(valid ? { parentSpanId: m[2]! } : {}),
      traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`,
    };
  }

  end(ctx: SpanContext, span: FinishedSpan): void {
    if (!ctx.sampled || !this.o.endpoint || this.o.policy?.()?.report === false) return;
    this.batch.push({ ctx, span });
    if (this.batch.length >= (this.o.maxBatch ?? 512)) void this.flush();
  }

  async flush(): Promise<void> {
    if (this.batch.length === 0 || !this.o.endpoint) return;
    const spans = this.batch;
    this.batch = [];
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: this.o.serviceName } }] },
          scopeSpans: [
            {
              scope: { name: 'ambit-waypoint' },
              spans: spans.map(({ ctx, span }) => ({
                traceId: ctx.traceId,
                spanId: ctx.spanId,
                ...(ctx.parentSpanId ? { parentSpanId: ctx.parentSpanId } : {}),
                name: span.name,
                kind: 2, // SERVER
                startTimeUnixNano: span.startNs.toString(),
                endTimeUnixNano: span.endNs.toString(),
                attributes: Object.entries(span.attributes).map(([key, v]) => ({
                  key,
                  value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
                })),
                status: { code: span.status >= 500 || span.status === 0 ? 2 : 1 },
              })),
            },
          ],
        },
      ],
    };
    try {
      const res = await fetch(`${this.o.endpoint.replace(/\/$/, '')}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) this.o.log.warn('trace export refused', { status: res.status, spans: spans.length });
      await res.body?.cancel();
    } catch (err) {
      this.o.log.warn('trace export failed', { err: describeError(err), spans: spans.length });
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}

/** Wall-clock nanoseconds for span timestamps. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor((performance.now() % 1) * 1e6));
}
