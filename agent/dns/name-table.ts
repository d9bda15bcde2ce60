// The names the agent's DNS proxy answers itself, built once per mesh snapshot: every
// Kubernetes Service (`<svc>.<ns>.svc.<domain>`) and ServiceEntry host, with their VIPs (a
// headless Service: its endpoints' addresses). A pod's query is tried in the forms its
// resolver sends, relative to the pod's namespace: `svc`, `svc.ns`, `svc.ns.svc` and the
// full name. A service is answered only to namespaces it is exported to.
import { isIP } from 'node:net';
import type { MeshSnapshot, Service } from '../../core/model/types.js';

export interface NameAnswer {
  /** The service the name resolved to. */
  readonly service: Service;
  /** Addresses of the asked family (may be empty: the name exists, without such an address). */
  readonly addresses: readonly string[];
}

const DEFAULT_DOMAIN = 'cluster.local';

/** The cluster DNS domain, read from a Kubernetes Service's host name (`name.ns.svc.<domain>`). */
function clusterDomain(services: readonly Service[]): string {
  for (const s of services) {
    const prefix = `${s.name}.${s.namespace}.svc.`.toLowerCase();
    const host = s.hostname.toLowerCase();
    if (host.startsWith(prefix) && host.length > prefix.length) return host.slice(prefix.length);
  }
  return DEFAULT_DOMAIN;
}

const visibleTo = (s: Service, namespace: string): boolean =>
  !s.exportTo || s.exportTo.length === 0 || s.exportTo.includes('*') || s.exportTo.includes(namespace);

export class NameTable {
  readonly domain: string;
  private readonly byName = new Map<string, Service[]>();

  constructor(snapshot: Pick<MeshSnapshot, 'services'>) {
    this.domain = clusterDomain(snapshot.services);
    for (const s of snapshot.services) {
      if (s.hostname.startsWith('*')) continue; // a wildcard host has no address to answer
      const name = s.hostname.toLowerCase().replace(/\.$/, '');
      const list = this.byName.get(name);
      if (list) list.push(s);
      else this.byName.set(name, [s]);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The names a query for `qname` from a pod of `namespace` may mean, most specific first. */
  candidates(qname: string, namespace: string): string[] {
    const name = qname.toLowerCase().replace(/\.$/, '');
    const labels = name.split('.');
    const out = [name];
    if (labels.length === 1) out.push(`${name}.${namespace}.svc.${this.domain}`);
    if (labels.length === 2) out.push(`${name}.svc.${this.domain}`);
    if (labels.length === 3 && labels[2] === 'svc') out.push(`${name}.${this.domain}`);
    return out;
  }

  /**
   * The service a pod of `namespace` reaches by `qname`, with its addresses of `family`;
   * undefined: not a mesh name (or one without any address), for the upstream resolver.
   */
  lookup(qname: string, namespace: string, family: 4 | 6): NameAnswer | undefined {
    for (const name of this.candidates(qname, namespace)) {
      const services = this.byName.get(name);
      if (!services) continue;
      // The pod's own namespace first (a ServiceEntry host declared in several namespaces).
      const service =
        services.find((s) => s.namespace === namespace && visibleTo(s, namespace)) ??
        services.find((s) => visibleTo(s, namespace));
      // Without any address (auto-allocation off) the name is the upstream resolver's to answer.
      const all = service ? addressesOf(service) : [];
      if (!service || all.length === 0) continue;
      return { service, addresses: all.filter((ip) => isIP(ip) === family) };
    }
    return undefined;
  }
}

/** A service's VIPs; a headless in-mesh service (no VIP) answers with its endpoints' addresses. */
function addressesOf(s: Service): readonly string[] {
  if (s.vips.length > 0) return s.vips;
  if (s.external) return [];
  return s.endpoints.map((e) => e.address).filter((a) => isIP(a) !== 0);
}
