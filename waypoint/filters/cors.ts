// VirtualService `corsPolicy`, as Envoy's CORS filter applies it (Istio's documented
// behaviour). Only requests with an Origin are CORS requests. A preflight (OPTIONS with Origin
// and Access-Control-Request-Method) from an allowed origin is answered here with 200 and the
// Allow-* headers, never forwarded; from an origin not allowed it is forwarded to the upstream
// (FORWARD, the default) or answered 200 without CORS headers (IGNORE). Other requests from an
// allowed origin go upstream and their response gets Allow-Origin, Allow-Credentials and
// Expose-Headers. The allowed origin is echoed; an allowed origin pattern that matches "*"
// allows every origin.
import type { CorsPolicy } from '../../core/model/l7.js';
import { localReply } from '../respond.js';
import { compileStringMatch } from '../route/string-match.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

type OriginCheck = (origin: string) => boolean;

/** Compiled once per policy object (one per config version). */
const originChecks = new WeakMap<CorsPolicy, OriginCheck>();

function originCheck(policy: CorsPolicy): OriginCheck {
  let check = originChecks.get(policy);
  if (!check) {
    const matchers = policy.allowOrigins.map((m) => compileStringMatch(m));
    const any = matchers.some((m) => m('*'));
    check = any ? () => true : (origin) => matchers.some((m) => m(origin));
    originChecks.set(policy, check);
  }
  return check;
}

/** Headers of the local answer to a preflight from an allowed origin. */
export function preflightHeaders(policy: CorsPolicy, origin: string): Record<string, string> {
  const h: Record<string, string> = { 'access-control-allow-origin': origin };
  if (policy.allowCredentials) h['access-control-allow-credentials'] = 'true';
  if (policy.allowMethods?.length) h['access-control-allow-methods'] = policy.allowMethods.join(',');
  if (policy.allowHeaders?.length) h['access-control-allow-headers'] = policy.allowHeaders.join(',');
  if (policy.maxAgeSeconds !== undefined) h['access-control-max-age'] = String(policy.maxAgeSeconds);
  return h;
}

/** Headers added to the response of an actual (non-preflight) request from an allowed origin. */
export function responseHeaders(policy: CorsPolicy, origin: string): Record<string, string> {
  const h: Record<string, string> = { 'access-control-allow-origin': origin };
  if (policy.allowCredentials) h['access-control-allow-credentials'] = 'true';
  if (policy.exposeHeaders?.length) h['access-control-expose-headers'] = policy.exposeHeaders.join(',');
  return h;
}

export const corsFilter: HttpFilter = {
  name: 'cors',
  onRequest(ctx: RequestContext): FilterResult {
    const policy = ctx.route?.route.corsPolicy;
    const origin = ctx.view.headers.origin;
    if (!policy || !origin) return undefined;
    const allowed = originCheck(policy)(origin);
    const preflight = ctx.view.method === 'OPTIONS' && !!ctx.view.headers['access-control-request-method'];
    if (preflight) {
      if (allowed) return localReply(200, '', '-', preflightHeaders(policy, origin));
      return policy.unmatchedPreflights === 'IGNORE' ? localReply(200, '') : undefined;
    }
    if (allowed) ctx.responseEdits.push({ set: responseHeaders(policy, origin) });
    return undefined;
  },
};
