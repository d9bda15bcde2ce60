// RequestAuthentication: validate JWTs with jose. Istio's semantics: a request without a
// token passes unauthenticated (authorization decides); a request with a token that fails
// validation is rejected with 401; a valid token gives the request principal `iss/sub` and
// its claims to authorization. Key sets live in the runtime's JwksCache (jwks.ts): reused
// across config pushes, remote ones fetched within bounds, cached and refreshed.
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { JwtRule, RequestAuthentication } from '../../core/model/l7.js';
import type { Labels } from '../../core/model/types.js';
import { replies } from '../respond.js';
import type { FilterResult, HttpFilter, RequestContext } from './context.js';
import { jose } from './jose.js';
import type { JwksCache } from './jwks.js';

/** What Node (and RFC 9110) accept as a header field value. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

interface CompiledJwtRule {
  readonly rule: JwtRule;
  readonly keys: JWTVerifyGetKey;
  readonly policyKey: string;
  readonly scope: RequestAuthentication['scope'];
}

function compileRule(
  policy: RequestAuthentication,
  rule: JwtRule,
  jwks: JwksCache,
  allowHttp: boolean,
): CompiledJwtRule {
  let keys: JWTVerifyGetKey;
  if (rule.jwks) {
    keys = jwks.inlineKeys(rule.jwks);
  } else if (rule.jwksUri) {
    keys = jwks.keysFor(rule.jwksUri, allowHttp);
  } else {
    keys = () => Promise.reject(new Error(`no jwks or jwksUri for issuer ${rule.issuer}`));
  }
  return { rule, keys, policyKey: policy.key, scope: policy.scope };
}

/**
 * Headers only the waypoint may set: every JWT output header of the config. A client's own
 * copies are removed before any filter runs, so neither authorization nor the app can be
 * told a claim no token proved.
 */
export function jwtOutputHeaders(policies: readonly RequestAuthentication[]): string[] {
  const out = new Set<string>();
  for (const p of policies) {
    for (const r of p.jwtRules) {
      if (r.outputPayloadToHeader) out.add(r.outputPayloadToHeader.toLowerCase());
      for (const { header } of r.outputClaimToHeaders ?? []) out.add(header.toLowerCase());
    }
  }
  return [...out];
}

function appliesTo(scope: RequestAuthentication['scope'], rootNamespace: string, ns: string, labels: Labels): boolean {
  if (scope.level !== 'mesh' && scope.namespace !== rootNamespace && scope.namespace !== ns) return false;
  if (scope.level !== 'workload' || !scope.selector) return true;
  return Object.entries(scope.selector).every(([k, v]) => labels[k] === v);
}

/**
 * Where a token may be: the configured headers, query parameters and cookies; with none
 * configured, Istio's defaults: `Authorization: Bearer <token>`, then `?access_token=`.
 */
function extractToken(
  ctx: RequestContext,
  rule: JwtRule,
): { token: string; header?: string; param?: string } | undefined {
  const configured =
    (rule.fromHeaders?.length ?? 0) + (rule.fromParams?.length ?? 0) + (rule.fromCookies?.length ?? 0) > 0;
  const headers = configured ? (rule.fromHeaders ?? []) : [{ name: 'authorization', prefix: 'Bearer ' }];
  const params = configured ? (rule.fromParams ?? []) : ['access_token'];
  for (const h of headers) {
    const value = ctx.view.headers[h.name.toLowerCase()];
    if (value === undefined) continue;
    const prefix = h.prefix ?? '';
    if (prefix && !value.toLowerCase().startsWith(prefix.toLowerCase())) continue;
    return { token: value.slice(prefix.length).trim(), header: h.name.toLowerCase() };
  }
  for (const p of params) {
    const value = ctx.view.query.get(p);
    if (value) return { token: value, param: p };
  }
  for (const name of rule.fromCookies ?? []) {
    for (const part of (ctx.view.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return { token: part.slice(eq + 1).trim() };
    }
  }
  return undefined;
}

export function jwtFilter(
  policies: readonly RequestAuthentication[],
  rootNamespace: string,
  jwks: JwksCache,
  allowHttp: boolean,
): HttpFilter | undefined {
  const rules = policies.flatMap((p) => p.jwtRules.map((r) => compileRule(p, r, jwks, allowHttp)));
  if (rules.length === 0) return undefined;
  const { decodeJwt, jwtVerify } = jose();
  return {
    name: 'jwt',
    async onRequest(ctx: RequestContext): Promise<FilterResult> {
      const ns = ctx.destinationWorkload?.namespace ?? ctx.view.source.namespace ?? '';
      const labels = ctx.destinationWorkload?.labels ?? {};
      const applicable = rules.filter((r) => appliesTo(r.scope, rootNamespace, ns, labels));
      for (const compiled of applicable) {
        const found = extractToken(ctx, compiled.rule);
        if (!found) continue;
        let issuer: string | undefined;
        try {
          issuer = decodeJwt(found.token).iss;
        } catch {
          return replies.jwtInvalid('Jwt is not in the form of Header.Payload.Signature');
        }
        // A token is checked by the rule of its issuer; other rules look further.
        // A rule without issuer (Istio allows jwksUri/jwks alone) takes any issuer its keys verify.
        const sameToken = (r: (typeof applicable)[number]): boolean => extractToken(ctx, r.rule)?.token === found.token;
        const rule =
          applicable.find((r) => r.rule.issuer === issuer && sameToken(r)) ??
          applicable.find((r) => r.rule.issuer === '' && sameToken(r));
        if (!rule) return replies.jwtInvalid(`Jwt issuer is not configured`);
        let payload: JWTPayload;
        try {
          ({ payload } = await jwtVerify(found.token, rule.keys, {
            ...(rule.rule.issuer ? { issuer: rule.rule.issuer } : {}),
            ...(rule.rule.audiences && rule.rule.audiences.length > 0 ? { audience: [...rule.rule.audiences] } : {}),
          }));
        } catch (err) {
          return replies.jwtInvalid((err as Error).message);
        }
        if (!rule.rule.forwardOriginalToken && found.header) delete ctx.upstreamHeaders[found.header];
        const outputs: Record<string, string> = {};
        if (rule.rule.outputPayloadToHeader) {
          outputs[rule.rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(payload)).toString(
            'base64url',
          );
        }
        for (const { header, claim } of rule.rule.outputClaimToHeaders ?? []) {
          const value = payload[claim];
          const text = value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
          // A claim with CR, LF, NUL or characters beyond latin1 cannot be a header value: not copied.
          if (text !== undefined && HEADER_VALUE.test(text)) outputs[header.toLowerCase()] = text;
        }
        Object.assign(ctx.upstreamHeaders, outputs);
        ctx.jwt = { principal: `${payload.iss}/${payload.sub}`, claims: payload, headers: outputs };
        return undefined;
      }
      return undefined;
    },
  };
}
