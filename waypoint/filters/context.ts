// What one request carries through the filter chain. Created per request; everything it
// points at (compiled routes, policies, JWKS) is built once per config change.
import type { Readable } from 'node:stream';
import type { Cluster, ClusterEndpoint, HeaderOperations } from '../../core/model/l7.js';
import type { Workload } from '../../core/model/types.js';
import type { CompiledRoute, CompiledVirtualHost } from '../route/route-table.js';
import type { RequestView } from '../route/request-view.js';
import type { LocalReply } from '../respond.js';
import type { RouterResult } from '../upstream/router.js';
import type { CancelSignal } from '../upstream/transport-cancel.js';

export interface RequestContext {
  readonly view: RequestView;
  /** Headers sent upstream; filters edit this copy, never the client's. */
  readonly upstreamHeaders: Record<string, string | string[]>;
  /** Path sent upstream (rewrite changes it). */
  upstreamPath: string;
  upstreamAuthority: string;
  /** The workload the request is addressed to, when the destination is one (authz scope). */
  destinationWorkload?: Pick<Workload, 'namespace' | 'labels'>;
  vhost?: CompiledVirtualHost;
  route?: CompiledRoute;
  jwt?: {
    readonly principal: string;
    readonly claims: Readonly<Record<string, unknown>>;
    /** Output headers the token produced (outputClaimToHeaders/outputPayloadToHeader): later filters see them, as in Envoy. */
    readonly headers: Readonly<Record<string, string>>;
  };
  /** Response header edits collected from route and destination, applied in order. */
  readonly responseEdits: HeaderOperations[];
  /**
   * Set by authorization when the endpoints the request can reach get different answers
   * (a policy selects some of them): the router asks it about the endpoint it picked.
   */
  authorizeEndpoint?: (cluster: Cluster, endpoint: ClusterEndpoint) => boolean;
  /** Delay injected by the fault filter, for the access log. */
  delayedMs?: number;
  /** Run on the upstream response's headers before they are sent (WasmPlugins), in order. */
  responseHooks?: Array<(headers: Record<string, string | string[]>) => Promise<void>>;
  /** Set by filters that read or change bodies (WasmPlugin body callbacks); absent, bodies pass untouched. */
  bodyFilter?: BodyFilter;
}

export type RequestBody = Buffer | NodeJS.ReadableStream | undefined;

/** The handler's hook for body filters: the request body around routing, the response body before it is sent. */
export interface BodyFilter {
  /** Routes with the body as the filters leave it (Content-Length fixed up); their local reply replaces the result. */
  route(
    body: RequestBody,
    deadline: CancelSignal,
    route: (body: RequestBody, deadline: CancelSignal) => Promise<RouterResult>,
  ): Promise<RouterResult>;
  /** The upstream body as the filters leave it (`headers` fixed up in place), or their local reply instead. */
  response(status: number, headers: Record<string, string | string[]>, body: Readable): Promise<Readable | LocalReply>;
}

/** Continue (undefined) or answer locally. */
export type FilterResult = LocalReply | undefined;

export interface HttpFilter {
  readonly name: string;
  onRequest(ctx: RequestContext): FilterResult | Promise<FilterResult>;
}

/** Applies Istio header operations (set replaces, add appends, remove drops). */
export function applyHeaderOps(headers: Record<string, string | string[]>, ops: HeaderOperations | undefined): void {
  if (!ops) return;
  for (const [name, value] of Object.entries(ops.set ?? {})) headers[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(ops.add ?? {})) {
    const key = name.toLowerCase();
    const prior = headers[key];
    headers[key] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  for (const name of ops.remove ?? []) delete headers[name.toLowerCase()];
}
