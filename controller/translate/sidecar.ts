// Sidecar egress scoping: which services the selected workloads (or the whole namespace)
// may see. `ns/host` with ns `*` (any), `.` (own), `~` (none); host `*`, `*.suffix` or exact.
import { byKey } from './collections.js';
import { scopeOf } from './authz.js';
import { hostMatches } from '../../core/mesh/hosts.js';
import type { IstioObject } from './decode-object.js';
import type { SidecarSpec } from '../../core/crds/types.js';
import type { Service, SidecarScope } from '../../core/model/types.js';

/** Whether a service exported with `exportTo` is visible from `namespace`. */
export function visibleFrom(exportTo: readonly string[] | undefined, owner: string, namespace: string): boolean {
  const list = exportTo ?? ['*'];
  if (list.includes('~')) return false;
  return list.includes('*') || list.includes(namespace) || (list.includes('.') && owner === namespace);
}

export function egressHostSelects(pattern: string, sidecarNamespace: string, service: Service): boolean {
  const slash = pattern.indexOf('/');
  const ns = pattern.slice(0, slash);
  const host = pattern.slice(slash + 1);
  if (ns === '~') return false;
  if (ns !== '*' && (ns === '.' ? sidecarNamespace : ns) !== service.namespace) return false;
  return hostMatches(host, service.hostname);
}

export function translateSidecar(
  obj: IstioObject<SidecarSpec>,
  rootNamespace: string,
  services: readonly Service[],
): SidecarScope {
  const ns = obj.metadata.namespace ?? 'default';
  const { spec } = obj;
  const egressHosts = (spec.egress ?? []).flatMap((e) => e.hosts);
  const visibleServices = services
    .filter((s) => visibleFrom(s.exportTo, s.namespace, ns) && egressHosts.some((p) => egressHostSelects(p, ns, s)))
    .map((s) => s.key)
    .sort();
  const mode = spec.outboundTrafficPolicy?.mode;
  return {
    key: `${ns}/${obj.metadata.name}`,
    scope: scopeOf(obj, rootNamespace, 'workloadSelector', 'labels'),
    egressHosts,
    visibleServices,
    ...(mode ? { outboundTrafficPolicy: mode } : {}),
  };
}

export function buildSidecarScopes(
  objs: readonly IstioObject<SidecarSpec>[],
  rootNamespace: string,
  services: readonly Service[],
): SidecarScope[] {
  return objs.map((o) => translateSidecar(o, rootNamespace, services)).sort(byKey((s) => s.key));
}
