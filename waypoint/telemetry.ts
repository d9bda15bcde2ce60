// Per-request telemetry of the waypoint: Istio's request metrics with the standard labels
// and one JSON access log line per request. The Telemetry API resources that select this
// waypoint (its namespace, the root namespace, targetRefs naming its Gateway or the request's
// Service, a selector matching its Gateway label) change the metrics, write Envoy-style access
// log lines to their providers, and set the trace sampling (samplingPolicy, for the tracer).
import { Counter } from 'prom-client';
import type { IncomingHttpHeaders } from 'node:http';
import { createLogger } from '../core/log.js';
import { httpLabels, peerFromWorkload, type PeerInfo } from '../core/metrics/labels.js';
import { observeRequest, type HttpSeries, type MeshMetrics } from '../core/metrics/mesh-metrics.js';
import type { Cluster, ClusterEndpoint, WaypointConfig } from '../core/model/l7.js';
import type { Workload } from '../core/model/types.js';
import type { ForwardedRejection } from './source-identity.js';
import { tryParseSpiffeId } from '../core/identity/spiffe.js';
import {
  canonicalNameOf,
  canonicalRevisionOf,
  GATEWAY_NAME_LABEL,
  WORKLOAD_NAME_LABEL,
} from '../core/mesh/vocabulary.js';
import type { Attribute } from '../core/telemetry/policy.js';
import {
  AccessLogWriter,
  extrasOf,
  TelemetryResolver,
  type AttributeSource,
  type ResolvedTelemetry,
} from '../core/telemetry/reporter.js';

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
  /** The cluster the request was routed to (a gateway names its destination service by it). */
  readonly cluster?: Pick<Cluster, 'host' | 'serviceKey'>;
  readonly upstream?: string;
  readonly route?: string;
  readonly attempts: number;
  readonly requestId?: string;
  readonly traceparent?: string;
  /** The request's headers as received (Telemetry tag values may read them). */
  readonly requestHeaders?: IncomingHttpHeaders;
  /** The client's address, for Envoy's downstream_remote_address. */
  readonly clientAddress?: string;
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

/** The destination side of a request (or connection): its workload, else the endpoint that answered. */
export function destinationPeer(r: Pick<RequestRecord, 'destinationWorkload' | 'destinationEndpoint'>): PeerInfo {
  if (r.destinationWorkload) return peerFromWorkload(r.destinationWorkload);
  return r.destinationEndpoint ? endpointPeer(r.destinationEndpoint) : {};
}

/**
 * Who reports a request, and how: the waypoint (reporter `waypoint`, the caller as source),
 * or a gateway, which reports as Istio's gateways do (waypoint/gateway/gateway-reporter.ts).
 */
export interface RequestReporter {
  /** The record as this reporter sees it (e.g. the destination service of the routed-to cluster). */
  view(r: RequestRecord): RequestRecord;
  labels(r: RequestRecord): ReturnType<typeof httpLabels>;
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

  constructor(
    private readonly metrics: MeshMetrics,
    private readonly labels: (r: RequestRecord) => ReturnType<typeof httpLabels> = labelsOf,
  ) {}

  get(r: RequestRecord): HttpSeries {
    const bySource = level(this.tuples, r.sourceWorkload ?? r.sourcePrincipal ?? NONE, () => new Map());
    const byDestination = level(bySource, r.destinationWorkload ?? r.destinationEndpoint ?? NONE, () => new Map());
    const byHost = level(byDestination, r.service?.hostname ?? '', () => new Map());
    const byNamespace = level(byHost, r.service?.namespace ?? '', () => new Map());
    const byFlag = level(byNamespace, r.flag, () => new Map());
    const code = r.protocol === 'grpc' ? -r.status - 1 : r.status;
    let series = byFlag.get(code);
    if (series === undefined) {
      series = this.metrics.httpSeries(this.labels(r));
      if (++this.size > MAX_BOUND_TUPLES) {
        this.tuples = new Map();
        this.size = 0;
      } else byFlag.set(code, series);
    }
    return series;
  }
}

const waypointReporter: RequestReporter = { view: (r) => r, labels: labelsOf };

function labelsOf(r: RequestRecord): ReturnType<typeof httpLabels> {
  return httpLabels({
    reporter: 'waypoint',
    source: peer(r.sourceWorkload, r.sourcePrincipal),
    destination: destinationPeer(r),
    ...(r.service ? { service: r.service } : {}),
    securityPolicy: 'mutual_tls',
    protocol: r.protocol,
    responseFlags: r.flag,
    responseCode: r.status,
  });
}

/** Attributes of a finished request for Telemetry tag values. */
function requestAttributes(r: RequestRecord): AttributeSource {
  const q = r.path.indexOf('?');
  const values: Partial<Record<Attribute, string | number | boolean>> = {
    'request.host': r.authority,
    'request.method': r.method,
    'request.path': r.path,
    'request.url_path': q < 0 ? r.path : r.path.slice(0, q),
    'request.scheme': 'http',
    'request.protocol': r.protocol === 'grpc' ? 'HTTP/2' : 'HTTP/1.1',
    'response.code': r.status,
    'response.flags': r.flag,
    'connection.mtls': true,
    ...(r.requestId ? { 'request.id': r.requestId } : {}),
    ...(r.sourcePrincipal ? { 'source.principal': r.sourcePrincipal } : {}),
    ...(r.destinationEndpoint?.identity ? { 'destination.principal': r.destinationEndpoint.identity } : {}),
    ...(r.destinationEndpoint
      ? { 'destination.address': r.destinationEndpoint.address, 'destination.port': r.destinationEndpoint.port }
      : {}),
  };
  const header = (name: string): string | undefined => {
    const v = r.requestHeaders?.[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  if (header('user-agent')) values['request.useragent'] = header('user-agent')!;
  if (header('referer')) values['request.referer'] = header('referer')!;
  return { attribute: (name) => values[name], requestHeader: header };
}

/** Envoy's default access log fields, as JSON (what `envoy` / envoyFileAccessLog providers get). */
function envoyAccessLogEntry(r: RequestRecord): Record<string, unknown> {
  const header = (name: string): string | undefined => {
    const v = r.requestHeaders?.[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  return {
    start_time: new Date(Date.now() - r.durationMs).toISOString(),
    method: r.method,
    path: r.path,
    protocol: r.protocol === 'grpc' ? 'HTTP/2' : 'HTTP/1.1',
    response_code: r.status,
    response_flags: r.flag,
    bytes_received: r.requestBytes,
    bytes_sent: r.responseBytes,
    duration: Math.round(r.durationMs),
    upstream_host: r.upstream ?? null,
    upstream_cluster: r.route ?? null,
    x_forwarded_for: header('x-forwarded-for') ?? null,
    user_agent: header('user-agent') ?? null,
    request_id: r.requestId ?? null,
    authority: r.authority,
    downstream_remote_address: r.clientAddress ?? null,
    source_principal: r.sourcePrincipal ?? null,
    destination_service: r.service?.hostname ?? null,
    traceparent: r.traceparent ?? null,
  };
}

export class WaypointTelemetry {
  private readonly forwardedIgnoredTotal: Counter<'reason'> | undefined;
  private bound: BoundSeries | undefined;
  private reporter = waypointReporter;
  private readonly resolver = new TelemetryResolver();

  /** `config`: the waypoint's current config (its mesh settings carry the Telemetry resources). */
  constructor(
    private readonly metrics: MeshMetrics | undefined,
    private readonly accessLogging: boolean,
    private readonly config?: () => WaypointConfig | undefined,
    private readonly accessLogWriter = new AccessLogWriter(),
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

  /** Report requests as `reporter` does from now on (a gateway reports as Istio's gateways). */
  reportAs(reporter: RequestReporter): void {
    this.reporter = reporter;
    this.bound = this.metrics ? new BoundSeries(this.metrics, reporter.labels) : undefined;
  }

  /** A tunnel's `forwarded` header named an address the peer does not own. */
  forwardedIgnored(reason: ForwardedRejection): void {
    this.forwardedIgnoredTotal?.inc({ reason });
  }

  /** A TCP connection through the waypoint refused by authorization. */
  tcpRefused(): void {
    this.metrics?.connectionRefused('authz');
  }

  /** The Telemetry that applies to this waypoint (and to requests for `service`, by targetRefs). */
  private resolve(service?: { name: string; namespace: string }): ResolvedTelemetry | undefined {
    const cfg = this.config?.();
    if (!cfg?.mesh.telemetry || cfg.mesh.telemetry.length === 0) return undefined;
    return this.resolver.resolve(cfg.mesh, {
      namespace: cfg.namespace,
      labels: { [GATEWAY_NAME_LABEL]: cfg.waypoint },
      gateway: cfg.waypoint,
      ...(service && service.namespace === cfg.namespace ? { service: service.name } : {}),
      mode: 'SERVER',
    });
  }

  /** Trace sampling from the Telemetry API (undefined: the mesh's traceSampling applies). */
  samplingPolicy(): { percent?: number; report: boolean } | undefined {
    const t = this.resolve()?.effective;
    if (!t) return undefined;
    return {
      ...(t.samplingPercentage !== undefined ? { percent: t.samplingPercentage } : {}),
      report: !t.disableSpanReporting,
    };
  }

  record(received: RequestRecord): void {
    const r = this.reporter.view(received);
    const tel = this.resolve(r.service);
    if (tel?.view) {
      const extras = extrasOf(tel.view, requestAttributes(r));
      this.metrics?.recordRequest(this.reporter.labels(r), r, { view: tel.view, ...(extras ? { extras } : {}) });
    } else if (this.bound) observeRequest(this.bound.get(r), r);
    if (tel?.effective.accessLogging) {
      this.accessLogWriter.write(tel.effective, r.status, envoyAccessLogEntry(r));
      return;
    }
    if (this.accessLogging && !tel?.effective.accessLoggingDisabled) {
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
