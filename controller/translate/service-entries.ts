// ServiceEntry → mesh Services, one per host: addresses (or addresses auto-allocated from
// 240.240.0.0/16 and 2001:2::/48 as Istio's DNS auto-allocation does, core/dns/vip-allocation),
// ports with protocol, location, resolution, endpoints (inline, or the workloads selected by
// workloadSelector).
import { byKey, compact } from './collections.js';
import { exportToOf } from './services.js';
import { localityFromText } from './locality.js';
import { allocateAutoVips, wantsAutoVip } from '../../core/dns/vip-allocation.js';
import type { Inventory } from './inventory.js';
import type { IstioObject } from './decode-object.js';
import type { ServiceEntrySpec } from '../../core/crds/types.js';
import { WorkloadIndex } from './label-index.js';
import type { Endpoint, MeshConfig, PortProtocol, Service, ServicePort, Workload } from '../../core/model/types.js';

const SE_PROTOCOL: Record<string, PortProtocol> = {
  HTTP: 'http',
  HTTP2: 'http2',
  GRPC: 'grpc',
  'GRPC-WEB': 'http',
  HTTPS: 'https',
  TLS: 'tls',
  TCP: 'tcp',
  MONGO: 'mongo',
};

export function seProtocol(protocol: string | undefined): PortProtocol {
  return protocol ? (SE_PROTOCOL[protocol.toUpperCase()] ?? 'tcp') : 'tcp';
}

export function buildServiceEntries(
  inv: Inventory,
  workloads: readonly Workload[],
  vips: ServiceEntryVipPolicy,
  index = new WorkloadIndex(workloads),
): Service[] {
  const out: Service[] = [];
  const sorted = [...inv.serviceEntries].sort(byKey((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`));
  const autoVips = autoAllocate(sorted, vips);
  for (const se of sorted) {
    const ns = se.metadata.namespace ?? 'default';
    const { spec } = se;
    // DYNAMIC_DNS never gets here: validation refuses it.
    const resolution =
      spec.resolution === 'DNS_ROUND_ROBIN' || spec.resolution === 'DYNAMIC_DNS' ? 'DNS' : (spec.resolution ?? 'NONE');
    const external = (spec.location ?? 'MESH_EXTERNAL') === 'MESH_EXTERNAL';
    const ports: ServicePort[] = (spec.ports ?? []).map((p) =>
      compact({
        name: p.name,
        port: p.number,
        targetPort: p.targetPort ?? p.number,
        protocol: seProtocol(p.protocol),
      }),
    );
    const endpointPorts = (named: Readonly<Record<string, number>>): Record<number, number> | undefined => {
      const map: Record<number, number> = {};
      for (const sp of ports) {
        const n = sp.name ? named[sp.name] : undefined;
        if (n !== undefined && n !== sp.targetPort) map[sp.port] = n;
      }
      return Object.keys(map).length > 0 ? map : undefined;
    };
    let endpoints: Endpoint[];
    const selector = spec.workloadSelector;
    if (selector) {
      const labels = selector.labels ?? {};
      endpoints = (Object.keys(labels).length > 0 ? index.select(ns, labels, (w) => w.healthy !== false) : []).flatMap(
        (w) =>
          w.ips
            .slice(0, 1)
            .map((address) => compact({ workloadUid: w.uid, address, labels: w.labels, locality: w.locality })),
      );
    } else {
      endpoints = (spec.endpoints ?? []).map((e) =>
        compact({
          address: e.address ?? '',
          ports: endpointPorts(e.ports ?? {}),
          labels: { ...e.labels },
          locality: localityFromText(e.locality),
          weight: e.weight,
        }),
      );
    }
    const addresses = spec.addresses ?? [];
    for (const host of spec.hosts) {
      // Wildcard and NONE hosts get no VIP; DNS/STATIC hosts without addresses get one so
      // captured traffic can be recognised (Istio's DNS auto-allocation).
      const hostVips = addresses.length > 0 ? addresses : [...(autoVips.get(`${ns}/${host}`) ?? [])];
      out.push(
        compact({
          key: `${ns}/${host}`,
          name: se.metadata.name,
          namespace: ns,
          hostname: host,
          vips: hostVips,
          ports,
          endpoints: resolution === 'DNS' && endpoints.length === 0 ? [{ address: host }] : endpoints,
          external,
          resolution,
          exportTo: exportToOf(spec.exportTo?.length ? spec.exportTo : undefined, ns),
        }),
      );
    }
  }
  return out;
}

/** Whether hosts without addresses get VIPs (mesh `dnsAutoAllocate`, default true). */
export interface ServiceEntryVipPolicy {
  readonly autoAllocate: boolean;
}

export function newServiceEntryVips(mesh?: Pick<MeshConfig, 'dnsAutoAllocate'>): ServiceEntryVipPolicy {
  return { autoAllocate: mesh?.dnsAutoAllocate !== false };
}

/** The auto VIPs of every ServiceEntry host that wants one, keyed `<ns>/<host>`. */
function autoAllocate(
  entries: readonly IstioObject<ServiceEntrySpec>[],
  policy: ServiceEntryVipPolicy,
): Map<string, readonly [string, string]> {
  if (!policy.autoAllocate) return new Map();
  const keys: string[] = [];
  const explicit: string[] = [];
  for (const se of entries) {
    const addresses = se.spec.addresses ?? [];
    explicit.push(...addresses);
    const candidate = { resolution: se.spec.resolution, addresses, labels: se.metadata.labels ?? {} };
    for (const host of se.spec.hosts)
      if (wantsAutoVip({ host, ...candidate })) keys.push(`${se.metadata.namespace ?? 'default'}/${host}`);
  }
  return allocateAutoVips(keys, explicit);
}
