// RequestAuthentication → JWT rules for the waypoint (issuer, JWKS, audiences, locations).
import { byKey, compact } from './collections.js';
import { scopeOf } from './authz.js';
import type { IstioObject } from './decode-object.js';
import type { RequestAuthenticationSpec } from '../../core/crds/types.js';
import type { JwtRule, RequestAuthentication } from '../../core/model/l7.js';

export function translateRequestAuthentication(
  obj: IstioObject<RequestAuthenticationSpec>,
  rootNamespace: string,
): RequestAuthentication {
  const ns = obj.metadata.namespace ?? 'default';
  const jwtRules: JwtRule[] = (obj.spec.jwtRules ?? []).map((r) =>
    compact({
      issuer: r.issuer ?? '',
      audiences: r.audiences,
      jwksUri: r.jwksUri ?? r.jwks_uri,
      jwks: r.jwks,
      fromHeaders: r.fromHeaders?.map((h) => compact({ name: h.name, prefix: h.prefix })),
      fromParams: r.fromParams,
      fromCookies: r.fromCookies,
      forwardOriginalToken: r.forwardOriginalToken,
      outputPayloadToHeader: r.outputPayloadToHeader,
      outputClaimToHeaders: r.outputClaimToHeaders?.map((c) => ({ header: c.header, claim: c.claim })),
    }),
  );
  return { key: `${ns}/${obj.metadata.name}`, name: obj.metadata.name, scope: scopeOf(obj, rootNamespace), jwtRules };
}

export function buildRequestAuthentications(
  objs: readonly IstioObject<RequestAuthenticationSpec>[],
  rootNamespace: string,
): RequestAuthentication[] {
  return objs.map((o) => translateRequestAuthentication(o, rootNamespace)).sort(byKey((p) => p.key));
}
