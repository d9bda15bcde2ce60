// Per-request telemetry of the waypoint: Istio's request metrics with the standard labels
// and one JSON access log line per request.
import { createLogger } from '../core/log.js';
import { httpLabels, peerFromWorkload, type PeerInfo } from '../core/metrics/labels.js';
import type { MeshMetrics } from '../core/metrics/mesh-metrics.js';
import type { Workload } from '../core/model/types.js';

const accessLog = createLogger('waypoint.access');

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly status: number;
  readonly flag: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly protocol: 'http' | 'grpc';
  readonly sourcePrincipal?: string;
  readonly sourceWorkload?: Workload;
  readonly destinationWorkload?: Workload;
  readonly service?: { hostname: string; name: string; namespace: string };
  readonly upstream?: string;
  readonly route?: string;
  readonly attempts: number;
  readonly requestId?: string;
  readonly traceparent?: string;
}

function peer(w: Workload | undefined, principal: string | undefined): PeerInfo {
  if (w) return peerFromWorkload(w);
  const m = principal ? /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal) : null;
  return { ...(principal ? { principal } : {}), ...(m ? { namespace: m[1]!, workload: m[2]! } : {}) };
}

export class WaypointTelemetry {
  constructor(private readonly metrics: MeshMetrics | undefined, private readonly accessLogging: boolean) {}

  record(r: RequestRecord): void {
    if (this.metrics) {
      const labels = httpLabels({
        reporter: 'waypoint',
        source: peer(r.sourceWorkload, r.sourcePrincipal),
        destination: r.destinationWorkload ? peerFromWorkload(r.destinationWorkload) : {},
        ...(r.service ? { service: r.service } : {}),
        securityPolicy: 'mutual_tls',
        protocol: r.protocol,
        responseFlags: r.flag,
        responseCode: r.status,
      });
      this.metrics.recordRequest(labels, { durationMs: r.durationMs, requestBytes: r.requestBytes, responseBytes: r.responseBytes });
    }
    if (this.accessLogging) {
      accessLog.info('request', {
        method: r.method, path: r.path, authority: r.authority, status: r.status, flags: r.flag,
        duration_ms: Math.round(r.durationMs * 100) / 100, bytes_received: r.requestBytes, bytes_sent: r.responseBytes,
        source: r.sourcePrincipal, upstream: r.upstream, route: r.route, attempts: r.attempts,
        request_id: r.requestId, traceparent: r.traceparent,
      });
    }
  }
}
