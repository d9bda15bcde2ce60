// L7 AuthorizationPolicy with the one engine the agent also uses (core/authz): CUSTOM
// (ext-authz over HTTP) → DENY → ALLOW, AUDIT logged, denial → 403 `RBAC: access denied`.
import { AuthzEngine, type AuthzRequest } from '../../core/authz/engine.js';
import type { Logger } from '../../core/log.js';
import type { AuthorizationPolicy, MeshConfig } from '../../core/model/types.js';
import { replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';

/** Asks an ext-authz provider; true = allowed. */
export type ExtAuthzCheck = (provider: string, ctx: RequestContext) => Promise<boolean>;

export function authzFilter(
  policies: readonly AuthorizationPolicy[],
  mesh: MeshConfig,
  opts: { log: Logger; extAuthz?: ExtAuthzCheck; localIp: string },
): HttpFilter | undefined {
  if (policies.length === 0) return undefined;
  const engine = new AuthzEngine(policies, mesh);
  for (const p of engine.problems) opts.log.warn('authorization policy problem', { problem: p });
  return {
    name: 'authz',
    async onRequest(ctx: RequestContext): Promise<FilterResult> {
      const v = ctx.view;
      const req: AuthzRequest = {
        source: { ip: v.source.ip, port: v.source.port, ...(v.source.principal ? { principal: v.source.principal } : {}), ...(v.source.namespace ? { namespace: v.source.namespace } : {}) },
        destination: { ip: opts.localIp, port: v.port },
        http: {
          method: v.method, path: v.url, host: v.authority, headers: v.headers,
          ...(ctx.jwt ? { requestPrincipal: ctx.jwt.principal, claims: ctx.jwt.claims } : {}),
        },
      };
      const workload = ctx.destinationWorkload ?? { namespace: v.source.namespace ?? '', labels: {} };
      const decision = engine.evaluate(workload, req, 'l7');
      for (const audited of decision.audited) {
        opts.log.info('audit', { policy: audited, method: v.method, path: v.path, principal: v.source.principal, allowed: decision.allowed });
      }
      if (decision.custom && decision.custom.length > 0) {
        if (!opts.extAuthz) return replies.extAuthzDenied();
        for (const provider of decision.custom) {
          if (!(await opts.extAuthz(provider, ctx))) return replies.extAuthzDenied();
        }
      }
      return decision.allowed ? undefined : replies.rbacDenied();
    },
  };
}
