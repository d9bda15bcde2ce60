// Route-level header edits (request now, response collected for later); per-destination
// edits are applied by the router once it picked the destination.
import { applyHeaderOps, type FilterResult, type HttpFilter, type RequestContext } from './context.js';

export const headerEditsFilter: HttpFilter = {
  name: 'headers',
  onRequest(ctx: RequestContext): FilterResult {
    const edits = ctx.route?.route.headers;
    if (!edits) return undefined;
    applyHeaderOps(ctx.upstreamHeaders, edits.request);
    if (edits.response) ctx.responseEdits.push(edits.response);
    return undefined;
  },
};
