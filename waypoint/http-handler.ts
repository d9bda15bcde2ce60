// One HTTP request through the waypoint: view → filters → router → response, then
// telemetry. Works for HTTP/1.1 and HTTP/2: the waypoint's own HTTP/1 server (http1/server.ts)
// and Node's (gateways) and its HTTP/2 compatibility API give the same request/response shape.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Readable } from 'node:stream';
import type { Logger } from '../core/log.js';
import type { Cluster, ClusterEndpoint } from '../core/model/l7.js';
import type { Workload } from '../core/model/types.js';
import { normalizeRequestTarget } from '../core/http/path-normalize.js';
import { applyHeaderOps, type RequestContext } from './filters/context.js';
import type { Pipeline } from './pipeline.js';
import { replies, type LocalReply } from './respond.js';
import { buildRequestView } from './route/request-view.js';
import { RouteTable } from './route/route-table.js';
import { verifiedWorkload } from './source-identity.js';
import type { WaypointTelemetry } from './telemetry.js';
import { nowNs, type Tracer } from './tracing.js';
import { tunnelInfoOf } from './tunnel-info.js';
import { endToEndHeaders } from './upstream/transport.js';
import { RequestCancel } from './upstream/transport-cancel.js';
import { describeError } from '../core/errors.js';
import type { Http1Request } from './http1/exchange.js';

type Req = IncomingMessage | Http2ServerRequest | Http1Request;

/** What the handler uses of a response: node:http's, node:http2's compatibility one, or http1/exchange.ts's. */
interface Res {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  end(body: string): unknown;
  addTrailers(trailers: Record<string, string | string[]>): void;
  destroy?(): unknown;
  /** The body as the rest of the response (the waypoint's HTTP/1 server); else it is piped. */
  sendBody?(body: Readable): void;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/** Bodies up to this size are buffered so retries and mirrors can replay them. */
export const REPLAYABLE_BODY_BYTES = 1024 * 1024;
/** Request header list limit (Envoy's default max_request_headers_kb is 60). */
export const MAX_REQUEST_HEADERS_BYTES = 64 * 1024;

function hasBody(req: Req): boolean {
  const len = req.headers['content-length'];
  return (
    (len !== undefined && len !== '0') ||
    req.headers['transfer-encoding'] !== undefined ||
    ('stream' in req &&
      !req.stream.readableEnded &&
      req.headers['content-length'] === undefined &&
      req.method !== 'GET' &&
      req.method !== 'HEAD')
  );
}

/**
 * The body, buffered when it declares a length within the cap (so a retry or a mirror can
 * send it again), else streamed through (no retry, no mirror; the request is still served).
 * The cap also holds against a body longer than it declared: past it, what was read is
 * streamed on ahead of the rest.
 */
export async function readBody(req: Req, cap = REPLAYABLE_BODY_BYTES): Promise<Buffer | Readable | undefined> {
  if (!hasBody(req)) return undefined;
  const len = Number(req.headers['content-length'] ?? NaN);
  if (!Number.isFinite(len) || len > cap) return req as Readable;
  const chunks: Buffer[] = [];
  let size = 0;
  const it = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (let next = await it.next(); !next.done; next = await it.next()) {
    chunks.push(next.value);
    size += next.value.length;
    if (size > cap) {
      return Readable.from(
        (async function* rest() {
          yield* chunks;
          for (let more = await it.next(); !more.done; more = await it.next()) yield more.value;
        })(),
      );
    }
  }
  return Buffer.concat(chunks);
}

export interface HandlerDeps {
  readonly pipeline: () => Pipeline | undefined;
  readonly telemetry: WaypointTelemetry;
  readonly log: Logger;
  /** The waypoint's own SPIFFE id, for x-forwarded-client-cert. */
  readonly selfIdentity: () => string;
  /** W3C trace context and OTLP export; absent = traceparent passes through untouched. */
  readonly tracer?: Tracer;
}

export function createRequestHandler(deps: HandlerDeps): (req: Req, res: Res) => void {
  return (req, res) => {
    handle(req, res, deps).catch((err: unknown) => {
      deps.log.error('request failed', { err: describeError(err) });
      if (!res.headersSent) writeLocal(res, { status: 500, body: 'internal error', flag: '-' }, []);
      else res.destroy?.();
    });
  };
}

/** RFC 7541's size of a header list: name + value + 32 per entry (what HTTP/2 limits count). */
function headerListSize(headers: Req['headers']): number {
  let size = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') size += name.length + value.length + 32;
    else for (const v of value) size += name.length + v.length + 32;
  }
  return size;
}

/** The client's headers without the ones only the waypoint may set. */
function withoutTrusted(headers: Req['headers'], trusted: readonly string[]): Req['headers'] {
  if (!trusted.some((name) => headers[name] !== undefined)) return headers;
  const out = { ...headers };
  for (const name of trusted) delete out[name];
  return out;
}

async function handle(req: Req, res: Res, deps: HandlerDeps): Promise<void> {
  const started = performance.now();
  const pipeline = deps.pipeline();
  const info = tunnelInfoOf(req.socket) ?? ('stream' in req ? tunnelInfoOf(req.stream.session) : undefined);
  if (!pipeline || !info) {
    writeLocal(res, replies.noHealthyUpstream(), []);
    return;
  }
  // Answers before the request view exists (bad path, foreign Host, oversized head): still counted.
  const early = (reply: LocalReply): void => {
    req.resume();
    const responseBytes = writeLocal(res, reply, []);
    deps.telemetry.record({
      method: req.method ?? 'GET',
      path: req.url ?? '',
      authority: info.authority,
      status: reply.status,
      flag: reply.flag,
      durationMs: performance.now() - started,
      requestBytes: 0,
      responseBytes,
      protocol: 'http',
      sourcePrincipal: info.peerIdentity,
      attempts: 0,
    });
  };
  // HTTP/1 heads over the limit never get here (the HTTP/1 server answers 431); HTTP/2 ones are checked here.
  if (headerListSize(req.headers) > MAX_REQUEST_HEADERS_BYTES) {
    early(replies.headersTooLarge());
    return;
  }
  // One request view, made once: every later step (authorization, route matching, rewrite,
  // the upstream request, telemetry) sees this path and these headers.
  const target = normalizeRequestTarget(req.url ?? '/', pipeline.pathNormalization);
  if (!target) {
    early(replies.badRequest('invalid request path'));
    return;
  }
  const headers = withoutTrusted(req.headers, pipeline.trustedHeaders);
  const authority = (headers[':authority'] as string | undefined) ?? headers.host ?? info.authority;
  // The tunnel chose the service (VIP:port); Host may only name that same service and port.
  const vhost = pipeline.table.named(info.vhostName);
  if (!vhost || (!info.hostSelected && !RouteTable.hostBelongs(vhost, authority, info.targetPort))) {
    early(replies.noRoute());
    return;
  }
  const sourceWorkload = verifiedWorkload(pipeline.workloadsByIp, info.clientIp, info.peerIdentity);
  const view = buildRequestView({
    method: req.method ?? 'GET',
    url: target.url,
    authority,
    headers,
    port: info.targetPort,
    source: {
      ip: info.clientIp,
      port: info.clientPort,
      principal: info.peerIdentity,
      ...(info.sourceNamespace ? { namespace: info.sourceNamespace } : {}),
      ...(sourceWorkload ? { labels: sourceWorkload.labels } : {}),
    },
  });
  const upstreamHeaders = endToEndHeaders(headers);
  const requestId = (headers['x-request-id'] as string | undefined) ?? randomUUID();
  upstreamHeaders['x-request-id'] = requestId;
  const xff = headers['x-forwarded-for'];
  upstreamHeaders['x-forwarded-for'] = xff ? `${String(xff)}, ${info.clientIp}` : info.clientIp;
  upstreamHeaders['x-forwarded-proto'] = info.scheme ?? 'http';
  upstreamHeaders['x-forwarded-client-cert'] = `By=${deps.selfIdentity()};URI=${info.peerIdentity}`;
  const traced = deps.tracer?.start(headers.traceparent as string | undefined, pipeline.config.mesh.traceSampling);
  const startNs = traced ? nowNs() : 0n;
  if (traced) upstreamHeaders.traceparent = traced.traceparent;

  const ctx: RequestContext = {
    view,
    vhost,
    upstreamHeaders,
    upstreamPath: view.url,
    upstreamAuthority: authority,
    responseEdits: [],
  };
  let requestBytes = 0;
  // An HTTP/1 request without a body has nothing to read or count: its stream is left alone
  // (HTTP/2 streams are read to their end, so both ends close).
  const streamed = 'stream' in req || hasBody(req);
  // Paused first: a 'data' listener alone would start the flow while the filters await, and
  // readBody would then wait for a body that already went by.
  if (streamed) {
    req.pause();
    req.on('data', (c: Buffer) => {
      requestBytes += c.length;
    });
  }

  const finish = (
    status: number,
    flag: string,
    responseBytes: number,
    extra: { upstream?: string; attempts?: number; endpoint?: ClusterEndpoint; cluster?: Cluster },
  ): void => {
    const service = ctx.vhost?.vhost.serviceKey ? serviceOf(ctx.vhost.vhost) : undefined;
    // The routed-to cluster: the one answering, else (a local reply, maybe before route
    // selection, as a denial) the first of the route the request matches, as Envoy's is.
    const cluster = extra.cluster ?? routedCluster(pipeline, ctx);
    deps.telemetry.record({
      method: view.method,
      path: view.url,
      authority,
      status,
      flag,
      durationMs: performance.now() - started,
      requestBytes,
      responseBytes,
      protocol: headers['content-type']?.startsWith('application/grpc') ? 'grpc' : 'http',
      sourcePrincipal: info.peerIdentity,
      ...(sourceWorkload ? { sourceWorkload } : {}),
      ...(service ? { service } : {}),
      ...(cluster ? { cluster } : {}),
      ...(ctx.route?.route.name ? { route: ctx.route.route.name } : {}),
      attempts: extra.attempts ?? 0,
      ...(extra.upstream ? { upstream: extra.upstream } : {}),
      requestId,
      requestHeaders: headers,
      clientAddress: info.clientIp.includes(':')
        ? `[${info.clientIp}]:${info.clientPort}`
        : `${info.clientIp}:${info.clientPort}`,
      ...(extra.endpoint
        ? { destinationEndpoint: extra.endpoint, ...destinationWorkloadOf(pipeline, extra.endpoint) }
        : {}),
      ...(typeof upstreamHeaders.traceparent === 'string' ? { traceparent: upstreamHeaders.traceparent } : {}),
    });
    if (traced) {
      deps.tracer!.end(traced, {
        name: `${ctx.vhost?.vhost.host ?? authority}:${info.targetPort}/*`,
        startNs,
        endNs: nowNs(),
        status,
        attributes: {
          'http.method': view.method,
          'http.url': view.url,
          'http.status_code': status,
          response_flags: flag,
          upstream_cluster: ctx.route?.route.destinations?.[0]?.cluster ?? '-',
          'peer.principal': info.peerIdentity,
          ...(extra.upstream ? { upstream_address: extra.upstream } : {}),
        },
      });
    }
  };

  const local = await pipeline.runFilters(ctx);
  if (local) {
    req.resume();
    finish(local.status, local.flag, writeLocal(res, local, ctx.responseEdits), {});
    return;
  }
  const body = await readBody(req);
  // Nothing to read: let the request end (HTTP/2 streams close on both ends).
  if (body === undefined && streamed) req.resume();
  const timeoutMs = ctx.route?.route.timeoutMs;
  // A client that goes away before its answer is complete ends the upstream request too.
  const downstreamGone = new RequestCancel();
  const deadline = timeoutMs ? RequestCancel.derived(downstreamGone, timeoutMs) : downstreamGone;
  res.once('close', () => {
    if (!res.writableFinished) downstreamGone.abort();
    if (deadline !== downstreamGone) deadline.dispose();
  });
  // Body filters (WasmPlugins with body callbacks) see the request body around routing.
  const result = ctx.bodyFilter
    ? await ctx.bodyFilter.route(body, deadline, (b, d) => pipeline.route(ctx, b, d))
    : await pipeline.route(ctx, body, deadline);
  if (downstreamGone.aborted) {
    if (result.kind === 'upstream') result.response.body.destroy();
    finish(0, 'DC', 0, { attempts: result.attempts });
    return;
  }
  if (result.kind === 'local') {
    finish(result.reply.status, result.reply.flag, writeLocal(res, result.reply, ctx.responseEdits), {
      attempts: result.attempts,
    });
    return;
  }
  // The transport made this object for this response alone: edited in place.
  const responseHeaders = result.response.headers;
  for (const edit of ctx.responseEdits) applyHeaderOps(responseHeaders, edit);
  for (const hook of ctx.responseHooks ?? []) await hook(responseHeaders);
  const upstream = {
    upstream: result.endpoint.key,
    attempts: result.attempts,
    endpoint: result.endpoint.endpoint,
    cluster: result.cluster,
  };
  // Body filters may change the response body (Content-Length fixed up) or answer instead.
  const responseBody = ctx.bodyFilter
    ? await ctx.bodyFilter.response(result.response.status, responseHeaders, result.response.body)
    : result.response.body;
  if (!(responseBody instanceof Readable)) {
    finish(responseBody.status, responseBody.flag, writeLocal(res, responseBody, ctx.responseEdits), upstream);
    return;
  }
  // A gRPC trailers-only answer (status in the headers, HEADERS with END_STREAM) cannot be
  // re-sent as one frame through Node's compatibility API: its status goes in the trailers.
  if (req.httpVersion === '2.0' && responseHeaders['grpc-status'] !== undefined) {
    const status: Record<string, string | string[]> = {};
    for (const name of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) {
      const value = responseHeaders[name];
      if (value !== undefined) status[name] = value;
      delete responseHeaders[name];
    }
    res.addTrailers(status);
  }
  res.writeHead(result.response.status, responseHeaders);
  let responseBytes = 0;
  responseBody.on('data', (c: Buffer) => {
    responseBytes += c.length;
  });
  // HTTP/2 trailers (gRPC's grpc-status and grpc-message) arrive on the upstream stream just
  // before its end: passed on before the piped end closes the downstream response. Taken from
  // the body as the filters leave it (the upstream body itself when none): they may edit them.
  responseBody.on('trailers', (trailers: Record<string, string | string[] | undefined>) => {
    const passed = Object.entries(trailers).filter((e): e is [string, string | string[]] => e[1] !== undefined);
    if (passed.length > 0) res.addTrailers(Object.fromEntries(passed));
  });
  if (res.sendBody) res.sendBody(responseBody);
  else responseBody.pipe(res as unknown as NodeJS.WritableStream);
  responseBody.on('error', () => res.destroy?.());
  res.on('close', () =>
    finish(result.response.status, res.writableFinished ? (result.flag ?? '-') : 'DC', responseBytes, upstream),
  );
}

function routedCluster(pipeline: Pipeline, ctx: RequestContext): Cluster | undefined {
  const route = ctx.route ?? (ctx.vhost ? pipeline.table.findRoute(ctx.vhost, ctx.view) : undefined);
  const name = route?.route.destinations?.[0]?.cluster;
  return name ? pipeline.clusters.get(name)?.config : undefined;
}

function destinationWorkloadOf(pipeline: Pipeline, e: ClusterEndpoint): { destinationWorkload?: Workload } {
  const w = pipeline.workloadsByIp.get(e.address);
  return w ? { destinationWorkload: w } : {};
}

const services = new WeakMap<object, { hostname: string; name: string; namespace: string }>();

/** The service a virtual host stands for, made once per compiled virtual host. */
function serviceOf(vhost: { host: string; serviceKey?: string }): {
  hostname: string;
  name: string;
  namespace: string;
} {
  let service = services.get(vhost);
  if (!service) {
    const host = vhost.host;
    service = { hostname: host, name: host.split('.')[0] ?? host, namespace: vhost.serviceKey?.split('/')[0] ?? '' };
    services.set(vhost, service);
  }
  return service;
}

/** Writes a local reply; returns the body size. */
function writeLocal(res: Res, reply: LocalReply, edits: RequestContext['responseEdits']): number {
  const headers: Record<string, string | string[]> = {
    'content-type': 'text/plain',
    'content-length': String(Buffer.byteLength(reply.body)),
    ...(reply.headers ?? {}),
  };
  for (const edit of edits) applyHeaderOps(headers, edit);
  res.writeHead(reply.status, headers);
  res.end(reply.body);
  return Buffer.byteLength(reply.body);
}
