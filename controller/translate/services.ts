// Kubernetes Services → mesh Services: VIPs (clusterIP, or allocated from 10.96.0.0/16 in
// local mode), ports with their protocol, endpoints from EndpointSlices or the selector.
import { byKey, compact } from './collections.js';
import type { Inventory } from './inventory.js';
import { WorkloadIndex } from './label-index.js';
import type { Deployment, EndpointSlice, Pod } from './decode-kube.js';
import type { Endpoint, PortProtocol, Service, ServicePort, Workload } from '../../core/model/types.js';

const PROTOCOL_NAMES: Record<string, PortProtocol> = {
  http: 'http',
  http2: 'http2',
  grpc: 'grpc',
  'grpc-web': 'http',
  tcp: 'tcp',
  tls: 'tls',
  https: 'https',
  mongo: 'mongo',
  'kubernetes.io/h2c': 'http2',
  'kubernetes.io/ws': 'http',
  'kubernetes.io/wss': 'https',
};

/** Protocol from `appProtocol`, else the port name (`http`, `http-web`, `grpc-api`, …). */
export function portProtocol(name: string | undefined, appProtocol: string | undefined): PortProtocol {
  if (appProtocol) return PROTOCOL_NAMES[appProtocol.toLowerCase()] ?? 'unknown';
  if (!name) return 'unknown';
  const prefix = name.toLowerCase().split('-')[0] ?? '';
  return PROTOCOL_NAMES[prefix] ?? 'unknown';
}

// Deterministic VIP allocation (hash of the key, then linear probing): shared with ServiceEntry auto VIPs.
import { VipAllocator } from '../../core/dns/vip-allocation.js';
export { VipAllocator };

export function exportToOf(value: readonly string[] | undefined, namespace: string): string[] {
  if (!value || value.length === 0) return ['*'];
  return value.map((v) => (v === '.' ? namespace : v));
}

interface SlicePort {
  name?: string;
  port: number;
}

/** Endpoints from the EndpointSlices labelled `kubernetes.io/service-name`. */
function endpointsFromSlices(
  slices: readonly EndpointSlice[],
  ports: readonly { name?: string; port: number }[],
  byName: ReadonlyMap<string, Workload>,
): Endpoint[] {
  const out: Endpoint[] = [];
  for (const slice of slices) {
    const slicePorts: SlicePort[] = (slice.ports ?? []).map((p) => compact({ name: p.name, port: p.port ?? 0 }));
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      const target = ep.targetRef;
      const ns = target?.namespace ?? slice.metadata.namespace ?? 'default';
      const wl = target && target.kind === 'Pod' ? byName.get(`Pod/${ns}/${target.name}`) : undefined;
      const portMap: Record<number, number> = {};
      for (const sp of ports) {
        const match =
          slicePorts.find((p) => (p.name ?? '') === (sp.name ?? '')) ??
          (slicePorts.length === 1 ? slicePorts[0] : undefined);
        if (match && match.port > 0) portMap[sp.port] = match.port;
      }
      for (const address of ep.addresses) {
        out.push(
          compact({
            workloadUid: wl?.uid,
            address,
            ports: portMap,
            labels: wl?.labels,
            locality: wl?.locality,
          }),
        );
      }
    }
  }
  return out;
}

/** Named targetPorts resolve against the pod's container ports. */
function isDeployment(o: Pod | Deployment): o is Deployment {
  return o.kind === 'Deployment';
}

function containerPorts(pod: Pod | Deployment | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const spec = pod === undefined ? undefined : isDeployment(pod) ? pod.spec?.template?.spec : pod.spec;
  for (const c of spec?.containers ?? [])
    for (const p of c.ports ?? []) if (p.name && p.containerPort) out.set(p.name, p.containerPort);
  return out;
}

export interface ServiceContext {
  readonly domain: string;
  readonly workloads: readonly Workload[];
  /** Pod / Deployment objects by workload uid (for named target ports). */
  readonly podObjects: ReadonlyMap<string, Pod | Deployment>;
  readonly vips: VipAllocator;
  readonly index?: WorkloadIndex;
  /** Workloads by uid, when the caller keeps one (else built from `workloads`). */
  readonly byUid?: ReadonlyMap<string, Workload>;
}

export function buildServices(inv: Inventory, ctx: ServiceContext): Service[] {
  const byUid = ctx.byUid ?? new Map(ctx.workloads.map((w) => [w.uid, w] as const));
  const index = ctx.index ?? new WorkloadIndex(ctx.workloads);
  const slicesByService = new Map<string, EndpointSlice[]>();
  for (const s of inv.endpointSlices) {
    const svc = s.metadata.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata.namespace ?? 'default'}/${svc}`;
    slicesByService.set(key, [...(slicesByService.get(key) ?? []), s]);
  }
  for (const svc of inv.services)
    for (const ip of (svc.spec?.clusterIPs ?? []).concat(svc.spec?.clusterIP ?? [])) ctx.vips.reserve(ip);
  const sorted = [...inv.services].sort(byKey((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`));
  return sorted.map((svc) => {
    const ns = svc.metadata.namespace ?? 'default';
    const spec = svc.spec ?? {};
    const hostname = `${svc.metadata.name}.${ns}.svc.${ctx.domain}`;
    const clusterIps =
      spec.clusterIPs && spec.clusterIPs.length > 0
        ? spec.clusterIPs
        : spec.clusterIP !== undefined
          ? [spec.clusterIP]
          : [];
    const headless = clusterIps[0] === 'None';
    const vips = headless
      ? []
      : clusterIps.filter((ip) => ip !== '').length > 0
        ? clusterIps
        : [ctx.vips.allocate(`${ns}/${svc.metadata.name}`)];
    const specPorts = spec.ports ?? [];
    const selector = spec.selector;
    const slices = slicesByService.get(`${ns}/${svc.metadata.name}`);
    const members =
      selector && Object.keys(selector).length > 0 ? index.select(ns, selector, (w) => w.kind === 'Pod') : [];
    const ports: ServicePort[] = specPorts.map((p) => {
      const port = p.port;
      const target = p.targetPort;
      let targetPort = typeof target === 'number' ? target : port;
      if (typeof target === 'string') {
        const first = members
          .map((w) => containerPorts(ctx.podObjects.get(w.uid)).get(target))
          .find((n) => n !== undefined);
        targetPort = first ?? (/^\d+$/.test(target) ? Number(target) : port);
      }
      return compact({ name: p.name, port, targetPort, protocol: portProtocol(p.name, p.appProtocol) });
    });
    let endpoints: Endpoint[];
    if (slices) {
      endpoints = endpointsFromSlices(slices, ports, byUid);
    } else {
      endpoints = members.flatMap((w) => {
        const named = new Map<number, number>();
        specPorts.forEach((p, i) => {
          const target = p.targetPort;
          if (typeof target !== 'string') return;
          const resolved = containerPorts(ctx.podObjects.get(w.uid)).get(target);
          const sp = ports[i];
          if (resolved !== undefined && sp && resolved !== sp.targetPort) named.set(sp.port, resolved);
        });
        const portMap = named.size > 0 ? Object.fromEntries(named) : undefined;
        return w.healthy === false
          ? []
          : w.ips.slice(0, 1).map((address) =>
              compact({
                workloadUid: w.uid,
                address,
                ports: portMap,
                labels: w.labels,
                locality: w.locality,
              }),
            );
      });
    }
    const exportAnnotation = svc.metadata.annotations?.['networking.istio.io/exportTo'];
    return compact({
      key: `${ns}/${hostname}`,
      name: svc.metadata.name,
      namespace: ns,
      hostname,
      vips,
      ports,
      endpoints: endpoints.sort(byKey((e) => `${e.address}`)),
      exportTo: exportToOf(exportAnnotation ? exportAnnotation.split(',').map((s) => s.trim()) : undefined, ns),
    });
  });
}
