// The waypoint's request path for one config version: the filter chain (built once per
// config change, never per request) and the router. Swapped atomically on each update.
import type { Logger } from '../core/log.js';
import type { WaypointConfig } from '../core/model/l7.js';
import type { Workload } from '../core/model/types.js';
import { DEFAULT_PATH_NORMALIZATION, type PathNormalization } from '../core/http/path-normalize.js';
import { DestinationAuthz } from './destination-authz.js';
import { authzFilter, type ExtAuthzCheck } from './filters/authz.js';
import { corsFilter } from './filters/cors.js';
import type { HttpFilter, RequestContext } from './filters/context.js';
import { faultFilter } from './filters/fault.js';
import { headerEditsFilter } from './filters/header-edits.js';
import type { JwksCache } from './filters/jwks.js';
import { jwtFilter, jwtOutputHeaders } from './filters/jwt.js';
import { redirectRewriteFilter } from './filters/redirect-rewrite.js';
import { routeSelectFilter, virtualHostFilter } from './filters/route-select.js';
import { wasmFilters } from './filters/wasm/filter.js';
import type { LocalReply } from './respond.js';
import { RouteTable, type CompiledVirtualHost } from './route/route-table.js';
import type { ClusterManager } from './upstream/cluster.js';
import { Router, type RouterResult, type TransportFactory } from './upstream/router.js';
import type { CancelSignal } from './upstream/transport-cancel.js';

export interface PipelineDeps {
  readonly clusters: ClusterManager;
  /** Key sets outlive one config version (see filters/jwks.ts). */
  readonly jwks: JwksCache;
  readonly transports: TransportFactory;
  readonly log: Logger;
  readonly random?: () => number;
  readonly extAuthz?: ExtAuthzCheck;
  /** The waypoint's own IP (destination.ip for authorization). */
  readonly localIp: string;
}

export class Pipeline {
  readonly table: RouteTable;
  readonly filters: readonly HttpFilter[];
  readonly router: Router;
  readonly clusters: ClusterManager;
  /** Workloads by IP, for sourceLabels and telemetry. */
  readonly workloadsByIp: ReadonlyMap<string, Workload>;
  /** Policies against the workloads behind this waypoint; undefined without any policy. */
  readonly authz: DestinationAuthz | undefined;
  /**
   * Headers a client may never supply (lower case): JWT outputs and the identity header the
   * waypoint sets itself. Removed from every request on arrival.
   */
  readonly trustedHeaders: readonly string[];
  readonly pathNormalization: PathNormalization;

  constructor(
    readonly config: WaypointConfig,
    workloads: readonly Workload[],
    deps: PipelineDeps,
  ) {
    const random = deps.random ?? Math.random;
    this.clusters = deps.clusters;
    this.table = RouteTable.fromConfig(config);
    const byIp = new Map<string, Workload>();
    for (const w of workloads) for (const ip of w.ips) byIp.set(ip, w);
    this.workloadsByIp = byIp;
    deps.clusters.apply(config.clusters);
    this.authz = config.authorizationPolicies.length > 0 ? new DestinationAuthz(config, byIp, deps.localIp) : undefined;
    this.trustedHeaders = [...new Set([...jwtOutputHeaders(config.requestAuthentications), 'x-forwarded-client-cert'])];
    this.pathNormalization = config.mesh.pathNormalization ?? DEFAULT_PATH_NORMALIZATION;
    // Istio's order: authentication, authorization, then routing and what hangs off the route.
    // WasmPlugins run by phase around them: AUTHN before JWT, AUTHZ before authorization,
    // then STATS, then unspecified (last before routing).
    const destinations = destinationWorkloads(config);
    const destinationOf = (v: CompiledVirtualHost) => destinations.get(v.vhost.name);
    const wasm = config.wasmPlugins;
    const chain: Array<HttpFilter | undefined> = [
      virtualHostFilter(destinationOf),
      ...wasmFilters(wasm, 'AUTHN', deps.log),
      jwtFilter(
        config.requestAuthentications,
        config.mesh.rootNamespace,
        deps.jwks,
        config.mesh.jwksAllowHttp ?? false,
      ),
      ...wasmFilters(wasm, 'AUTHZ', deps.log),
      authzFilter(this.authz, {
        log: deps.log,
        localIp: deps.localIp,
        providers: config.mesh.extensionProviders ?? [],
        hasCustom: config.authorizationPolicies.some((p) => p.action === 'CUSTOM'),
        ...(deps.extAuthz ? { extAuthz: deps.extAuthz } : {}),
      }),
      ...wasmFilters(wasm, 'STATS', deps.log),
      ...wasmFilters(wasm, 'UNSPECIFIED_PHASE', deps.log),
      routeSelectFilter(this.table),
      corsFilter,
      faultFilter(random),
      redirectRewriteFilter,
      headerEditsFilter,
    ];
    this.filters = chain.filter((f): f is HttpFilter => f !== undefined);
    this.router = new Router({ clusters: deps.clusters, transports: deps.transports, random, log: deps.log });
  }

  /** Runs the filters; the first local reply ends the chain. */
  async runFilters(ctx: RequestContext): Promise<LocalReply | undefined> {
    for (const filter of this.filters) {
      const result = await filter.onRequest(ctx);
      if (result) return result;
    }
    return undefined;
  }

  route(
    ctx: RequestContext,
    body: Buffer | NodeJS.ReadableStream | undefined,
    deadline: CancelSignal,
  ): Promise<RouterResult> {
    return this.router.route(ctx, body, deadline);
  }
}

/**
 * The workload a virtual host stands for, for selector-based policies: the namespace of the
 * service and the labels its endpoints share (a policy selecting `app: payment-service`
 * applies to requests for the payment-service).
 */
function destinationWorkloads(config: WaypointConfig): Map<string, Pick<Workload, 'namespace' | 'labels'>> {
  const out = new Map<string, Pick<Workload, 'namespace' | 'labels'>>();
  for (const v of config.virtualHosts) {
    const cluster = config.clusters.find((c) => c.host === v.host && c.port === v.port && !c.subset);
    const endpoints = cluster?.endpoints ?? [];
    const shared: Record<string, string> = { ...(endpoints[0]?.labels ?? {}) };
    for (const e of endpoints.slice(1))
      for (const k of Object.keys(shared)) if (e.labels[k] !== shared[k]) delete shared[k];
    const namespace = v.serviceKey?.split('/')[0] ?? config.namespace;
    out.set(v.name, { namespace, labels: shared });
  }
  return out;
}
