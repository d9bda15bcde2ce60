// Gateway API ReferenceGrant (gateway.networking.k8s.io/v1beta1): a route may send traffic to
// a Service in another namespace only when a ReferenceGrant in that namespace allows routes of
// its kind from its namespace (`spec.from`) to that Service, or to every Service (`spec.to`
// without a name). Istio enforces it for HTTPRoute and GRPCRoute backends alike.
import { Issues, checkRequiredString } from './validate/common.js';
import type { ReferenceGrant } from './decode-kube.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** Where a reference comes from: the route's kind and namespace. */
export interface RefOrigin {
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  readonly namespace: string;
  readonly grants: ReferenceGrants;
}

export class ReferenceGrants {
  private readonly byNamespace = new Map<string, ReferenceGrant[]>();

  constructor(grants: readonly ReferenceGrant[]) {
    for (const g of grants) {
      const ns = g.metadata.namespace ?? 'default';
      this.byNamespace.set(ns, [...(this.byNamespace.get(ns) ?? []), g]);
    }
  }

  /** Whether a `kind` in `fromNs` may reference Service `name` in `toNs`. */
  allows(kind: string, fromNs: string, toNs: string, name: string): boolean {
    if (fromNs === toNs) return true;
    return (this.byNamespace.get(toNs) ?? []).some((g) => {
      const from = (g.spec.from ?? []).some(
        (f) => f.group === GATEWAY_GROUP && f.kind === kind && f.namespace === fromNs,
      );
      const to = (g.spec.to ?? []).some(
        (t) => (t.group ?? '') === '' && t.kind === 'Service' && (t.name ?? name) === name,
      );
      return from && to;
    });
  }
}

/** Decoding has checked types and required fields; an empty kind or namespace matches nothing. */
export function validateReferenceGrant(obj: ReferenceGrant): Issues {
  const issues = new Issues();
  (obj.spec.from ?? []).forEach((f, i) => {
    checkRequiredString(issues, `spec.from[${i}].kind`, f.kind);
    checkRequiredString(issues, `spec.from[${i}].namespace`, f.namespace);
  });
  (obj.spec.to ?? []).forEach((t, i) => checkRequiredString(issues, `spec.to[${i}].kind`, t.kind));
  return issues;
}
