// Virtual host by `:authority` first (authorization needs to know the destination), then,
// after authentication and authorization, the first matching route; none → 404 NR.
import type { Workload } from '../../core/model/types.js';
import type { CompiledVirtualHost, RouteTable } from '../route/route-table.js';
import { replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

export function virtualHostFilter(
  table: RouteTable,
  destinationOf: (vhost: CompiledVirtualHost) => Pick<Workload, 'namespace' | 'labels'> | undefined,
): HttpFilter {
  return {
    name: 'vhost',
    onRequest(ctx: RequestContext): FilterResult {
      const vhost = table.findVirtualHost(ctx.view.authority, ctx.view.port);
      if (vhost) {
        ctx.vhost = vhost;
        const dest = destinationOf(vhost);
        if (dest) ctx.destinationWorkload = dest;
      }
      return undefined;
    },
  };
}

export function routeSelectFilter(table: RouteTable): HttpFilter {
  return {
    name: 'route',
    onRequest(ctx: RequestContext): FilterResult {
      if (!ctx.vhost) return replies.noRoute();
      const route = table.findRoute(ctx.vhost, ctx.view);
      if (!route) return replies.noRoute();
      ctx.route = route;
      return undefined;
    },
  };
}
