// Picks the virtual host by `:authority` and the first matching route; no route → 404 NR.
import type { RouteTable } from '../route/route-table.js';
import { replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

export function routeSelectFilter(table: RouteTable): HttpFilter {
  return {
    name: 'route',
    onRequest(ctx: RequestContext): FilterResult {
      const vhost = table.findVirtualHost(ctx.view.authority, ctx.view.port);
      if (!vhost) return replies.noRoute();
      const route = table.findRoute(vhost, ctx.view);
      if (!route) return replies.noRoute();
      ctx.vhost = vhost;
      ctx.route = route;
      return undefined;
    },
  };
}
