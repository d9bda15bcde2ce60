// The virtual host is the tunnel's target (set before the chain runs); this filter gives
// authentication the workload it stands for. After authentication and authorization, the
// first matching route of that virtual host; none → 404 NR.
import type { Workload } from '../../core/model/types.js';
import type { CompiledVirtualHost, RouteTable } from '../route/route-table.js';
import { replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

export function virtualHostFilter(
  destinationOf: (vhost: CompiledVirtualHost) => Pick<Workload, 'namespace' | 'labels'> | undefined,
): HttpFilter {
  return {
    name: 'vhost',
    onRequest(ctx: RequestContext): FilterResult {
      if (!ctx.vhost) return replies.noRoute();
      const dest = destinationOf(ctx.vhost);
      if (dest) ctx.destinationWorkload = dest;
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
