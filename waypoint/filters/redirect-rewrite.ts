// Redirect answers locally (301 unless configured) with a Location built from the request;
// rewrite changes the path prefix (or whole path) and authority sent upstream.
import type { HttpRoute, StringMatch } from '../../core/model/l7.js';
import { localReply } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

function matchedUriPrefix(route: HttpRoute, path: string): string | undefined {
  // Envoy's prefix_rewrite replaces the prefix that matched; with several match blocks, the
  // first prefix match that applies.
  for (const m of route.matches) {
    const uri: StringMatch | undefined = m.uri;
    if (uri?.type === 'prefix' && path.startsWith(uri.value)) return uri.value;
  }
  return undefined;
}

function withQuery(path: string, url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? path : path + url.slice(q);
}

export const redirectRewriteFilter: HttpFilter = {
  name: 'redirect-rewrite',
  onRequest(ctx: RequestContext): FilterResult {
    const route = ctx.route?.route;
    if (!route) return undefined;
    if (route.redirect) {
      const r = route.redirect;
      const scheme = r.scheme ?? ctx.view.scheme;
      const [host, port] = splitAuthority(r.authority ?? ctx.view.authority);
      const authority = r.port ? `${host}:${r.port}` : port ? `${host}:${port}` : host;
      const path = r.uri ?? ctx.view.path;
      const location = `${scheme}://${authority}${withQuery(path, ctx.view.url)}`;
      return localReply(r.code, '', '-', { location });
    }
    if (route.rewrite?.uri !== undefined) {
      const prefix = matchedUriPrefix(route, ctx.view.path);
      const rest = prefix !== undefined ? ctx.view.path.slice(prefix.length) : '';
      let path = prefix !== undefined ? route.rewrite.uri + rest : route.rewrite.uri;
      if (path === '') path = '/';
      path = path.replace(/\/{2,}/g, '/');
      ctx.upstreamPath = withQuery(path, ctx.view.url);
    }
    if (route.rewrite?.authority) ctx.upstreamAuthority = route.rewrite.authority;
    return undefined;
  },
};

function splitAuthority(authority: string): [string, string | undefined] {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    const port = authority.slice(end + 2);
    return [authority.slice(0, end + 1), port || undefined];
  }
  const i = authority.lastIndexOf(':');
  return i > 0 ? [authority.slice(0, i), authority.slice(i + 1)] : [authority, undefined];
}
