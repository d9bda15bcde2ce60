// Per-request telemetry of the waypoint: Istio's request metrics with the standard labels
// and one JSON access log line per request.
import { Counter } from 'prom-client';
import { createLogger } from '../core/log.js';
import { httpLabels, peerFromWorkload, type PeerInfo } from '../core/metrics/labels.js';
import { observeRequest, type HttpSeries, type MeshMetrics } from '../core/metrics/mesh-metrics.js';
import type { ClusterEndpoint } from '../core/model/l7.js';
import type { Workload } from '../core/model/types.js';
import type { ForwardedRejection } from './source-identity.js';
import { tryParseSpiffeId } from '../core/identity/spiffe.js';
import { canonicalNameOf, canonicalRevisionOf, WORKLOAD_NAME_LABEL } from '../core/mesh/vocabulary.js';

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
  /** The endpoint that answered, for destination labels when its workload is not known. */
  readonly destinationEndpoint?: ClusterEndpoint;
  readonly service?: { hostname: string; name: string; namespace: string };
  readonly upstream?: string;
  readonly route?: string;
  readonly attempts: number;
  readonly requestId?: string;
  readonly traceparent?: string;
}

function peer(w: Workload | undefined, principal: string | undefined): PeerInfo {
  if (w) return peerFromWorkload(w);
  const id = tryParseSpiffeId(principal);
  return {
    ...(principal ? { principal } : {}),
    ...(id ? { namespace: id.namespace, workload: id.serviceAccount } : {}),
  };
}

/** Destination labels from the endpoint alone: identity, namespace, app/version labels. */
function endpointPeer(e: ClusterEndpoint): PeerInfo {
  const id = tryParseSpiffeId(e.identity);
  const app = canonicalNameOf(e.labels);
  const version = canonicalRevisionOf(e.labels);
  return {
    ...(e.identity ? { principal: e.identity } : {}),
    ...(id ? { namespace: id.namespace } : {}),
    ...(app ? { app, workload: e.labels[WORKLOAD_NAME_LABEL] ?? app } : {}),
    version: version ?? 'latest',
  };
}

/** Label tuples kept bound (each a few objects); past this the cache starts over. */
const MAX_BOUND_TUPLES = 4096;
const NONE = {};

type Level<K, V> = Map<K, V>;
type Tuples = Level<unknown, Level<unknown, Level<string, Level<string, Level<string, Level<number, HttpSeries>>>>>>;

function level<K, V>(parent: Map<K, V>, key: K, make: () => V): V {
  let v = parent.get(key);
  if (v === undefined) {
    v = make();
    parent.set(key, v);
  }
  return v;
}

/**
 * The metrics bound to a request's label tuple, found by the objects the request already
 * holds (source workload or principal, destination workload or endpoint, service, protocol,
 * flag, code): a repeated tuple costs a few map lookups, no label object and no string key.
 */
class BoundSeries {
  private tuples: Tuples = new Map();
  private size = 0;

  constructor(private readonly metrics: MeshMetrics) {}

  get(r: RequestRecord): HttpSeries {
    const bySource = level(this.tuples, r.sourceWorkload ?? r.sourcePrincipal ?? NONE, () => new Map());
    const byDestination = level(bySource, r.destinationWorkload ?? r.destinationEndpoint ?? NONE, () => new Map());
    const byHost = level(byDestination, r.service?.hostname ?? '', () => new Map());
    const byNamespace = level(byHost, r.service?.namespace ?? '', () => new Map());
    const byFlag = level(byNamespace, r.flag, () => new Map());
    const code = r.protocol === 'grpc' ? -r.status - 1 : r.status;
    let series = byFlag.get(code);
    if (series === undefined) {
      series = this.metrics.httpSeries(labelsOf(r));
      if (++this.size > MAX_BOUND_TUPLES) {
        this.tuples = new Map();
        this.size = 0;
      } else byFlag.set(code, series);
    }
    return series;
  }
}

function labelsOf(r: RequestRecord): ReturnType<typeof httpLabels> {
  return httpLabels({
    reporter: 'waypoint',
    source: peer(r.sourceWorkload, r.sourcePrincipal),
    destination: r.destinationWorkload
      ? peerFromWorkload(r.destinationWorkload)
      : r.destinationEndpoint
        ? endpointPeer(r.destinationEndpoint)
        : {},
    ...(r.service ? { service: r.service } : {}),
    securityPolicy: 'mutual_tls',
    protocol: r.protocol,
    responseFlags: r.flag,
    responseCode: r.status,
  });
}

export class WaypointTelemetry {
  private readonly forwardedIgnoredTotal: Counter<'reason'> | undefined;
  private readonly bound: BoundSeries | undefined;

  constructor(
    private readonly metrics: MeshMetrics | undefined,
    private readonly accessLogging: boolean,
  ) {
    this.forwardedIgnoredTotal = metrics
      ? new Counter({
          name: 'ambit_waypoint_forwarded_ignored_total',
          help: 'HBONE forwarded addresses not believed (not an address of a workload with the peer identity)',
          labelNames: ['reason'],
          registers: [metrics.registry],
        })
      : undefined;
    this.bound = metrics ? new BoundSeries(metrics) : undefined;
  }

  /** A tunnel's `forwarded` header named an address the peer does not own. */
  forwardedIgnored(reason: ForwardedRejection): void {
    this.forwardedIgnoredTotal?.inc({ reason });
  }

  /** A TCP connection through the waypoint refused by authorization. */
  tcpRefused(): void {
    this.metrics?.connectionRefused('authz');
  }

  record(r: RequestRecord): void {
    if (this.bound) observeRequest(this.bound.get(r), r);
    if (this.accessLogging) {
      accessLog.info('request', {
        method: r.method,
        path: r.path,
        authority: r.authority,
        status: r.status,
        flags: r.flag,
        duration_ms: Math.round(r.durationMs * 100) / 100,
        bytes_received: r.requestBytes,
        bytes_sent: r.responseBytes,
        source: r.sourcePrincipal,
        upstream: r.upstream,
        route: r.route,
        attempts: r.attempts,
        request_id: r.requestId,
        traceparent: r.traceparent,
      });
    }
  }
}
