// A waypoint filter's RequestContext for a GET /x to svc:80 from 10.0.0.1 in namespace shop,
// with the given headers and query: filter tests call onRequest with it directly.
import type { RequestContext } from '../../waypoint/filters/context.js';
import type { RequestView } from '../../waypoint/route/request-view.js';

export function requestContext(headers: Record<string, string>, query = ''): RequestContext {
  const view: RequestView = {
    method: 'GET',
    url: `/x${query ? `?${query}` : ''}`,
    path: '/x',
    query: new URLSearchParams(query),
    authority: 'svc:80',
    scheme: 'http',
    headers,
    port: 80,
    source: { ip: '10.0.0.1', port: 1234, namespace: 'shop' },
  };
  return {
    view,
    upstreamHeaders: { ...headers },
    upstreamPath: '/x',
    upstreamAuthority: 'svc:80',
    destinationWorkload: { namespace: 'shop', labels: {} },
    responseEdits: [],
  };
}
