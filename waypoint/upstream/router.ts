// The last filter: picks the destination (weights), the endpoint (load balancer, outlier
// state, pool limits), sends the request over a tunnel, and applies timeout, retries
// (to another endpoint when there is one) and mirroring. Returns the upstream response or a
// local reply; the server writes it.
import type { Cluster, RouteDestination } from '../../core/model/l7.js';
import type { Logger } from '../../core/log.js';
import { applyHeaderOps, type RequestContext } from '../filters/context.js';
import { pickDestination } from '../route/route-table.js';
import { replies, replyForError, type LocalReply, type ResponseFlag } from '../respond.js';
import type { EndpointRuntime } from './balancer.js';
import type { ClusterManager, ClusterRuntime } from './cluster.js';
import { RequestCancel, type CancelSignal } from './transport-cancel.js';
import { retryOnPredicate, ISTIO_DEFAULT_RETRY, retryBackoffMs, type AttemptOutcome } from './retry-policy.js';
import type { EndpointTransport, UpstreamResponse } from './transport.js';

export interface TransportFactory {
  /** The (cached) transport to one endpoint of a cluster. */
  forEndpoint(cluster: Cluster, ep: EndpointRuntime): EndpointTransport;
  /** A raw byte stream to an endpoint (TCP through the waypoint). */
  dial(cluster: Cluster, ep: EndpointRuntime): Promise<import('node:stream').Duplex>;
}

export interface RouterDeps {
  readonly clusters: ClusterManager;
  readonly transports: TransportFactory;
  readonly random: () => number;
  readonly log: Logger;
}

export type RouterResult =
  /** `flag` URX: the answer is a retriable one that used up the retries (Envoy's flag). */
  | {
      kind: 'upstream';
      response: UpstreamResponse;
      cluster: Cluster;
      endpoint: EndpointRuntime;
      attempts: number;
      flag?: ResponseFlag;
    }
  | { kind: 'local'; reply: LocalReply; cluster?: Cluster; attempts: number };

/** The consistent-hash key; undefined when the request lacks it (Envoy then picks as without hashing). */
export function hashKeyFor(cluster: Cluster, ctx: Pick<RequestContext, 'view'>): string | undefined {
  const ch = cluster.trafficPolicy.loadBalancer?.consistentHash;
  if (!ch) return undefined;
  if (ch.httpHeaderName) return ctx.view.headers[ch.httpHeaderName.toLowerCase()];
  if (ch.httpCookie) {
    const name = ch.httpCookie.name;
    for (const part of (ctx.view.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
    return undefined;
  }
  if (ch.useSourceIp) return ctx.view.source.ip;
  if (ch.httpQueryParameterName) return ctx.view.query.get(ch.httpQueryParameterName) ?? undefined;
  return undefined;
}

function outcomeOf(err: unknown): AttemptOutcome {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'AMBIT_E_TIMEOUT' || code === 'ABORT_ERR') return { status: 0, failure: 'timeout' };
  if (
    code === 'AMBIT_E_HBONE_CONNECT' ||
    code === 'AMBIT_E_HBONE_STATUS' ||
    code === 'AMBIT_E_TLS_PEER' ||
    code === 'ECONNREFUSED'
  ) {
    return { status: 0, failure: 'connect' };
  }
  return { status: 0, failure: 'reset' };
}

export class Router {
  constructor(private readonly deps: RouterDeps) {}

  async route(
    ctx: RequestContext,
    body: Buffer | NodeJS.ReadableStream | undefined,
    deadline: CancelSignal,
  ): Promise<RouterResult> {
    const route = ctx.route;
    if (!route) return { kind: 'local', reply: replies.noRoute(), attempts: 0 };
    const destination = pickDestination(route, this.deps.random());
    if (!destination) return { kind: 'local', reply: replies.noRoute(), attempts: 0 };
    const runtime = this.deps.clusters.get(destination.cluster);
    if (!runtime) return { kind: 'local', reply: replies.noHealthyUpstream(), attempts: 0 };

    this.mirror(ctx, body);
    applyHeaderOps(ctx.upstreamHeaders, destination.headers?.request);
    if (destination.headers?.response) ctx.responseEdits.unshift(destination.headers.response);

    // Retries need the body again: only a buffered body can be replayed.
    const retry = route.route.retries ?? ISTIO_DEFAULT_RETRY;
    const maxRetries = body === undefined || Buffer.isBuffer(body) ? retry.attempts : 0;
    const retriable = retryOnPredicate(retry.retryOn);
    const tried = new Set<string>();
    let last: RouterResult = {
      kind: 'local',
      reply: replies.noHealthyUpstream(),
      cluster: runtime.config,
      attempts: 0,
    };

    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (deadline.aborted)
        return { kind: 'local', reply: replies.timeout(), cluster: runtime.config, attempts: attempt };
      if (attempt > 0) await new Promise((r) => setTimeout(r, retryBackoffMs(attempt - 1, this.deps.random)));
      const picked = runtime.pick({ hashKey: hashKeyFor(runtime.config, ctx), random: this.deps.random }, tried);
      if (picked === 'overflow')
        return { kind: 'local', reply: replies.overflow(), cluster: runtime.config, attempts: attempt };
      if (picked === 'no-healthy')
        return { kind: 'local', reply: replies.noHealthyUpstream(), cluster: runtime.config, attempts: attempt };
      tried.add(picked.key);
      // A policy that selects only some endpoints is enforced on the one picked (no retry
      // elsewhere: the request is denied, as it would be at that workload).
      if (ctx.authorizeEndpoint && !ctx.authorizeEndpoint(runtime.config, picked.endpoint)) {
        return { kind: 'local', reply: replies.rbacDenied(), cluster: runtime.config, attempts: attempt };
      }
      const result = await this.attempt(ctx, runtime, picked, destination, body, deadline, retry.perTryTimeoutMs);
      last =
        result.kind === 'upstream'
          ? { ...result, attempts: attempt + 1 }
          : { kind: 'local', reply: result.reply, cluster: runtime.config, attempts: attempt + 1 };
      const outcome: AttemptOutcome =
        result.kind === 'upstream'
          ? {
              status: result.response.status,
              ...(typeof result.response.headers['grpc-status'] === 'string'
                ? { grpcStatus: result.response.headers['grpc-status'] }
                : {}),
            }
          : result.outcome;
      if (deadline.aborted)
        return { kind: 'local', reply: replies.timeout(), cluster: runtime.config, attempts: attempt + 1 };
      if (!retriable(outcome)) return last;
      if (attempt === maxRetries) return maxRetries > 0 && last.kind === 'upstream' ? { ...last, flag: 'URX' } : last;
      if (result.kind === 'upstream') result.response.body.resume(); // discard the retried answer
    }
    return last;
  }

  private async attempt(
    ctx: RequestContext,
    runtime: ClusterRuntime,
    ep: EndpointRuntime,
    dest: RouteDestination,
    body: Buffer | NodeJS.ReadableStream | undefined,
    deadline: CancelSignal,
    perTryTimeoutMs: number | undefined,
  ): Promise<
    | { kind: 'upstream'; response: UpstreamResponse; cluster: Cluster; endpoint: EndpointRuntime }
    | { kind: 'local'; reply: LocalReply; outcome: AttemptOutcome }
  > {
    const signal = perTryTimeoutMs ? RequestCancel.derived(deadline, perTryTimeoutMs) : deadline;
    runtime.active++;
    ep.active++;
    try {
      const transport = this.deps.transports.forEndpoint(runtime.config, ep);
      const response = await transport.request({
        method: ctx.view.method,
        path: ctx.upstreamPath,
        authority: ctx.upstreamAuthority,
        headers: ctx.upstreamHeaders,
        body,
        signal,
      });
      runtime.record(ep, response.status);
      // Counted down once, whichever of end / error / close comes first.
      let counted = true;
      const done = (): void => {
        if (!counted) return;
        counted = false;
        runtime.active--;
        ep.active--;
      };
      response.body.once('end', done);
      response.body.once('error', done);
      response.body.once('close', done);
      return { kind: 'upstream', response, cluster: runtime.config, endpoint: ep };
    } catch (err) {
      runtime.active--;
      ep.active--;
      const outcome = outcomeOf(err);
      runtime.record(ep, 0);
      const perTryTimedOut = outcome.failure === 'timeout' && !deadline.aborted;
      this.deps.log.debug('upstream attempt failed', {
        cluster: runtime.config.name,
        endpoint: ep.key,
        err: (err as Error).message,
      });
      return {
        kind: 'local',
        reply: perTryTimedOut || deadline.aborted ? replies.timeout() : replyForError(err),
        outcome,
      };
    }
  }

  /** Fire and forget: a copy to the mirror cluster, never waited on, never affecting the answer. */
  private mirror(ctx: RequestContext, body: Buffer | NodeJS.ReadableStream | undefined): void {
    const m = ctx.route?.route.mirror;
    if (!m || (body !== undefined && !Buffer.isBuffer(body))) return;
    const pct = ctx.route?.route.mirrorPercentage ?? 100;
    if (pct < 100 && this.deps.random() * 100 >= pct) return;
    const runtime = this.deps.clusters.get(m.cluster);
    if (!runtime) return;
    const picked = runtime.pick({ random: this.deps.random });
    if (typeof picked === 'string') return;
    if (ctx.authorizeEndpoint && !ctx.authorizeEndpoint(runtime.config, picked.endpoint)) return;
    const transport = this.deps.transports.forEndpoint(runtime.config, picked);
    transport
      .request({
        method: ctx.view.method,
        path: ctx.upstreamPath,
        authority: `${ctx.upstreamAuthority.split(':')[0]}-shadow`,
        headers: { ...ctx.upstreamHeaders },
        body,
        signal: AbortSignal.timeout(10_000),
      })
      .then(
        (res) => res.body.resume(),
        (err: Error) => this.deps.log.debug('mirror failed', { cluster: m.cluster, err: err.message }),
      );
  }
}
