// Cross-object checks for `ambitctl analyze` (Istio's analyzers, not its admission webhook):
// a VirtualService routing to a host that no Service/ServiceEntry defines (IST0101) or bound
// to a Gateway that does not exist. The translator accepts such objects (the host may appear
// later), so these are reported by analyze only.
import { rec, recs, str, strs } from './raw.js';
import { hostMatches, resolveHost } from './identity.js';
import { rejectionFor, type Rejection } from './inventory.js';
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import type { MeshSnapshot } from '../../core/model/types.js';

function isVirtualService(o: KubeObject): boolean {
  return o.kind === 'VirtualService' && o.apiVersion.startsWith('networking.istio.io/');
}

export function referenceProblems(
  objects: readonly KubeObject[], snapshot: MeshSnapshot, rejected: readonly Rejection[],
  opts: { domain?: string; origins?: ReadonlyMap<string, ObjectOrigin> } = {},
): Rejection[] {
  const domain = opts.domain ?? 'cluster.local';
  const hosts = new Set(snapshot.services.map((s) => s.hostname));
  const wildcardHosts = snapshot.services.map((s) => s.hostname).filter((h) => h.startsWith('*'));
  const known = (host: string): boolean => hosts.has(host) || wildcardHosts.some((w) => hostMatches(w, host));
  const gateways = new Set(objects.filter((o) => o.kind === 'Gateway' && o.apiVersion.startsWith('networking.istio.io/'))
    .map((g) => `${g.metadata.namespace ?? 'default'}/${g.metadata.name}`));
  const alreadyRejected = new Set(rejected.map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`));
  const out: Rejection[] = [];
  for (const vs of objects.filter(isVirtualService)) {
    const ns = vs.metadata.namespace ?? 'default';
    if (alreadyRejected.has(`VirtualService/${ns}/${vs.metadata.name}`)) continue;
    const spec = rec(vs.spec) ?? {};
    strs(spec.gateways).forEach((g, i) => {
      if (g === 'mesh') return;
      const key = g.includes('/') ? g : `${ns}/${g}`;
      if (!gateways.has(key)) out.push(rejectionFor(vs, `spec.gateways[${i}]`, `Gateway ${key} not found`, opts.origins));
    });
    recs(spec.http).forEach((route, i) => {
      const check = (d: unknown, field: string): void => {
        const host = str(rec(d)?.host);
        if (!host) return;
        const fqdn = resolveHost(host, ns, domain);
        if (!known(fqdn)) out.push(rejectionFor(vs, field, `host ${fqdn} not found: no Service or ServiceEntry defines it (IST0101)`, opts.origins));
      };
      recs(route.route).forEach((dw, j) => check(dw.destination, `spec.http[${i}].route[${j}].destination.host`));
      check(route.mirror, `spec.http[${i}].mirror.host`);
    });
  }
  return out;
}
