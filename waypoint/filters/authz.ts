// L7 AuthorizationPolicy with the one engine the agent also uses (core/authz): CUSTOM
// (ext-authz over HTTP) → DENY → ALLOW, AUDIT logged, denial → 403 `RBAC: access denied`.
// Decided per group of endpoints the request can reach (see destination-authz.ts): one
// answer for all → answered here; different answers → the router checks the endpoint it picks.
import type { AuthzDecision, AuthzRequest } from '../../core/authz/engine.js';
import type { Logger } from '../../core/log.js';
import type { ExtensionProvider } from '../../core/model/types.js';
import type { DestinationAuthz } from '../destination-authz.js';
import { localReply, replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';
import { httpExtAuthz, type ExtAuthzCheck } from './ext-authz.js';

export type { ExtAuthzCheck, ExtAuthzResult } from './ext-authz.js';

export function authzRequestOf(ctx: RequestContext, localIp: string): AuthzRequest {
  const v = ctx.view;
  return {
    source: {
      ip: v.source.ip,
      port: v.source.port,
      ...(v.source.principal ? { principal: v.source.principal } : {}),
      ...(v.source.namespace ? { namespace: v.source.namespace } : {}),
    },
    destination: { ip: localIp, port: v.port },
    http: {
      method: v.method,
      path: v.path,
      host: v.authority,
      // The client's copies of JWT output headers were removed on arrival; the verified ones count.
      headers: ctx.jwt && Object.keys(ctx.jwt.headers).length > 0 ? { ...v.headers, ...ctx.jwt.headers } : v.headers,
      ...(ctx.jwt ? { requestPrincipal: ctx.jwt.principal, claims: ctx.jwt.claims } : {}),
    },
  };
}

export function authzFilter(
  authz: DestinationAuthz | undefined,
  opts: {
    log: Logger;
    extAuthz?: ExtAuthzCheck;
    localIp: string;
    providers: readonly ExtensionProvider[];
    hasCustom: boolean;
  },
): HttpFilter | undefined {
  if (!authz || authz.engine.size === 0) return undefined;
  for (const p of authz.engine.problems) opts.log.warn('authorization policy problem', { problem: p });
  // The HTTP ext-authz client of the mesh's providers, built once per config change.
  const extAuthz = opts.extAuthz ?? (opts.hasCustom ? httpExtAuthz(opts.providers, opts.log) : undefined);
  return {
    name: 'authz',
    async onRequest(ctx: RequestContext): Promise<FilterResult> {
      const v = ctx.view;
      const req = authzRequestOf(ctx, opts.localIp);
      const groups = ctx.vhost ? authz.groupsFor(ctx.vhost.vhost.name) : [];
      const decisions = new Map<string, AuthzDecision>();
      for (const g of groups) decisions.set(g.selection, authz.engine.evaluate(g.ref, req, 'l7'));
      const all = [...decisions.values()];
      const audited = new Set(all.flatMap((d) => d.audited));
      const allowedAll = all.every((d) => d.allowed);
      for (const policy of audited) {
        opts.log.info('audit', {
          policy,
          method: v.method,
          path: v.path,
          principal: v.source.principal,
          allowed: allowedAll,
        });
      }
      // CUSTOM first: any provider denying ends the request with its answer.
      const providers = new Set(all.flatMap((d) => d.custom ?? []));
      for (const provider of providers) {
        if (!extAuthz) return replies.extAuthzDenied();
        const r = await extAuthz(provider, ctx);
        if (!r.allowed) return localReply(r.status, r.body, 'UAEX', { ...r.headersToDownstream });
        Object.assign(ctx.upstreamHeaders, r.headersToUpstream);
      }
      if (all.length > 0 && all.every((d) => !d.allowed)) return replies.rbacDenied();
      if (!allowedAll) {
        // Endpoints disagree: the router asks about the one it picks.
        ctx.authorizeEndpoint = (cluster, endpoint): boolean => {
          const ref = authz.refOf(cluster, endpoint);
          const selection = authz.selectionOf(ref);
          let d = decisions.get(selection);
          if (!d) {
            d = authz.engine.evaluate(ref, req, 'l7');
            decisions.set(selection, d);
          }
          return d.allowed;
        };
      }
      return undefined;
    },
  };
}
