// Gateway API ReferenceGrant (gateway.networking.k8s.io/v1beta1): a route may send traffic to
// a Service in another namespace only when a ReferenceGrant in that namespace allows routes of
// its kind from its namespace (`spec.from`) to that Service, or to every Service (`spec.to`
// without a name). Istio enforces it for HTTPRoute and GRPCRoute backends alike.
import { rec, recs, str } from './raw.js';
import { Issues, checkList, checkRequiredString, specOf } from './validate/common.js';
import { checkObjectSchema } from './validate/schema-check.js';
import type { KubeObject } from '../sources/types.js';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** Where a reference comes from: the route's kind and namespace. */
export interface RefOrigin {
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  readonly namespace: string;
  readonly grants: ReferenceGrants;
}

export class ReferenceGrants {
  private readonly byNamespace = new Map<string, KubeObject[]>();

  constructor(grants: readonly KubeObject[]) {
    for (const g of grants) {
      const ns = g.metadata.namespace ?? 'default';
      this.byNamespace.set(ns, [...(this.byNamespace.get(ns) ?? []), g]);
    }
  }

  /** Whether a `kind` in `fromNs` may reference Service `name` in `toNs`. */
  allows(kind: string, fromNs: string, toNs: string, name: string): boolean {
    if (fromNs === toNs) return true;
    return (this.byNamespace.get(toNs) ?? []).some((g) => {
      const spec = rec(g.spec);
      const from = recs(spec?.from).some(
        (f) => str(f.group) === GATEWAY_GROUP && str(f.kind) === kind && str(f.namespace) === fromNs,
      );
      const to = recs(spec?.to).some(
        (t) => (str(t.group) ?? '') === '' && str(t.kind) === 'Service' && (str(t.name) ?? name) === name,
      );
      return from && to;
    });
  }
}

export function validateReferenceGrant(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkList(issues, 'spec.from', spec.from).forEach((f, i) => {
    checkRequiredString(issues, `spec.from[${i}].kind`, rec(f)?.kind);
    checkRequiredString(issues, `spec.from[${i}].namespace`, rec(f)?.namespace);
  });
  checkList(issues, 'spec.to', spec.to).forEach((t, i) =>
    checkRequiredString(issues, `spec.to[${i}].kind`, rec(t)?.kind),
  );
  return issues;
}
