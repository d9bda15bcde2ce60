// L7 AuthorizationPolicy with the one engine the agent also uses (core/authz): CUSTOM
// (ext-authz over HTTP) → DENY → ALLOW, AUDIT logged, denial → 403 `RBAC: access denied`.
import { AuthzEngine, type AuthzRequest } from '../../core/authz/engine.js';
import type { Logger } from '../../core/log.js';
import type { AuthorizationPolicy, MeshConfig } from '../../core/model/types.js';
import { localReply, replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';
import { httpExtAuthz, type ExtAuthzCheck } from './ext-authz.js';

export type { ExtAuthzCheck, ExtAuthzResult } from './ext-authz.js';

export function authzFilter(
  policies: readonly AuthorizationPolicy[],
  mesh: MeshConfig,
  opts: { log: Logger; extAuthz?: ExtAuthzCheck; localIp: string },
): HttpFilter | undefined {
  if (policies.length === 0) return undefined;
  const engine = new AuthzEngine(policies, mesh);
  for (const p of engine.problems) opts.log.warn('authorization policy problem', { problem: p });
  // The HTTP ext-authz client of the mesh's providers, built once per config change.
  const extAuthz = opts.extAuthz
    ?? (policies.some((p) => p.action === 'CUSTOM') ? httpExtAuthz(mesh.extensionProviders ?? [], opts.log) : undefined);
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
      // CUSTOM first: any provider denying ends the request with its answer.
      for (const provider of decision.custom ?? []) {
        if (!extAuthz) return replies.extAuthzDenied();
        const r = await extAuthz(provider, ctx);
        if (!r.allowed) return localReply(r.status, r.body, 'UAEX', { ...r.headersToDownstream });
        Object.assign(ctx.upstreamHeaders, r.headersToUpstream);
      }
      return decision.allowed ? undefined : replies.rbacDenied();
    },
  };
}
