// RequestAuthentication → JWT rules for the waypoint (issuer, JWKS, audiences, locations).
import { byKey, compact, rec, recs, str, strs } from './raw.js';
import { scopeOf } from './authz.js';
import type { KubeObject } from '../sources/types.js';
import type { JwtRule, RequestAuthentication } from '../../core/model/l7.js';

function optionalList(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) ? strs(value) : undefined;
}

export function translateRequestAuthentication(obj: KubeObject, rootNamespace: string): RequestAuthentication {
  const spec = rec(obj.spec) ?? {};
  const ns = obj.metadata.namespace ?? 'default';
  const jwtRules: JwtRule[] = recs(spec.jwtRules).map((r) =>
    compact({
      issuer: str(r.issuer) ?? '',
      audiences: optionalList(r.audiences),
      jwksUri: str(r.jwksUri),
      jwks: str(r.jwks),
      fromHeaders: Array.isArray(r.fromHeaders)
        ? recs(r.fromHeaders).map((h) => compact({ name: str(h.name) ?? '', prefix: str(h.prefix) }))
        : undefined,
      fromParams: optionalList(r.fromParams),
      fromCookies: optionalList(r.fromCookies),
      forwardOriginalToken: typeof r.forwardOriginalToken === 'boolean' ? r.forwardOriginalToken : undefined,
      outputPayloadToHeader: str(r.outputPayloadToHeader),
      outputClaimToHeaders: Array.isArray(r.outputClaimToHeaders)
        ? recs(r.outputClaimToHeaders).map((c) => ({ header: str(c.header) ?? '', claim: str(c.claim) ?? '' }))
        : undefined,
    }),
  );
  return { key: `${ns}/${obj.metadata.name}`, name: obj.metadata.name, scope: scopeOf(obj, rootNamespace), jwtRules };
}

export function buildRequestAuthentications(
  objs: readonly KubeObject[],
  rootNamespace: string,
): RequestAuthentication[] {
  return objs.map((o) => translateRequestAuthentication(o, rootNamespace)).sort(byKey((p) => p.key));
}
