// The agent's view of one mesh snapshot, indexed for the data path: Service VIP lookup,
// workload by IP, round-robin endpoint choice, and the L4 authz engine compiled once per
// snapshot. Pods enrolled on this node fill in what the snapshot does not know yet (a pod's
// IP before the controller has seen it).
import { AuthzEngine } from '../../core/authz/engine.js';
import { effectiveMtlsMode, type EffectiveMtlsMode } from '../../core/authz/peer-authn.js';
import { cidrContains, parseCidr, parseIp, type CidrBlock } from '../../core/authz/ip-match.js';
import type { MeshSnapshot, Service, ServicePort, Workload, WaypointRef } from '../../core/model/types.js';

/** What the outbound path does with one connection. */
export type OutboundDecision =
  | {
      kind: 'hbone';
      address: string;
      port: number;
      authority: string;
      identity: string;
      service?: Service;
      workload?: Workload;
    }
  | { kind: 'waypoint'; waypoint: WaypointRef; authority: string; service?: Service; workload?: Workload }
  | { kind: 'passthrough'; address: string; port: number; service?: Service; workload?: Workload }
  | { kind: 'refuse'; reason: string; service?: Service };

/** Minimal view of a locally enrolled pod (from the pod registry). */
export interface LocalWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly ips: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
}

export class MeshState {
  readonly authz: AuthzEngine;
  private readonly vipIndex = new Map<string, { service: Service; port: ServicePort }>();
  private readonly workloadsByIp = new Map<string, Workload>();
  private readonly workloadsByUid = new Map<string, Workload>();
  private readonly rr = new Map<string, number>();
  private readonly vips = new Set<string>();
  private readonly cidrIndex: Array<{ block: CidrBlock; service: Service; port: ServicePort }> = [];

  constructor(
    readonly snapshot: MeshSnapshot,
    private readonly localByIp: (ip: string) => LocalWorkload | undefined = () => undefined,
    private readonly hbonePort = 15008,
  ) {
    this.authz = new AuthzEngine(snapshot.authorizationPolicies, snapshot.mesh);
    for (const w of snapshot.workloads) {
      this.workloadsByUid.set(w.uid, w);
      for (const ip of w.ips) this.workloadsByIp.set(ip, w);
    }
    for (const s of snapshot.services) {
      for (const vip of s.vips) {
        // ServiceEntry addresses may be CIDR blocks (resolution NONE): matched by containment.
        if (vip.includes('/')) {
          const block = cidrOf(vip);
          if (block) for (const p of s.ports) this.cidrIndex.push({ block, service: s, port: p });
          continue;
        }
        this.vips.add(vip);
        for (const p of s.ports) this.vipIndex.set(`${vip}|${p.port}`, { service: s, port: p });
      }
    }
  }

  get trustDomain(): string {
    return this.snapshot.mesh.trustDomain;
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.workloadsByUid.get(uid);
  }

  /** A snapshot workload with this IP, else a pod enrolled on this node (as an enrolled workload). */
  workloadByIp(ip: string): Workload | undefined {
    const w = this.workloadsByIp.get(ip);
    if (w) return w;
    const local = this.localByIp(ip);
    if (!local) return undefined;
    return {
      uid: `Pod/${local.namespace}/${local.name}`,
      kind: 'Pod',
      name: local.name,
      namespace: local.namespace,
      serviceAccount: local.serviceAccount,
      identity: local.identity,
      ips: local.ips,
      node: '',
      labels: local.labels,
      enrolled: true,
    };
  }

  private enrolledAt(ip: string): Workload | undefined {
    const w = this.workloadByIp(ip);
    if (!w || w.enrolled) return w;
    // The snapshot may lag behind enrolment: a pod enrolled on this node is in the mesh.
    return this.localByIp(ip) ? { ...w, enrolled: true } : undefined;
  }

  /** Whether the snapshot has a Service with this VIP or a workload with this IP. */
  knows(ip: string): boolean {
    return this.workloadsByIp.has(ip) || this.vips.has(ip) || this.inCidr(ip, undefined) !== undefined;
  }

  serviceByVip(ip: string, port: number): { service: Service; port: ServicePort } | undefined {
    return this.vipIndex.get(`${ip}|${port}`) ?? (this.cidrIndex.length > 0 ? this.inCidr(ip, port) : undefined);
  }

  private inCidr(ip: string, port: number | undefined): { service: Service; port: ServicePort } | undefined {
    if (this.cidrIndex.length === 0) return undefined;
    const bytes = parseIp(ip);
    if (!bytes) return undefined;
    return this.cidrIndex.find((c) => (port === undefined || c.port.port === port) && cidrContains(c.block, bytes));
  }

  /** Where a connection from `source` to `ip:port` goes. */
  routeOutbound(source: Pick<Workload, 'namespace'>, ip: string, port: number): OutboundDecision {
    const hit = this.serviceByVip(ip, port);
    if (hit) return this.routeService(hit.service, hit.port, ip, port);
    const target = this.workloadByIp(ip);
    if (target?.waypoint)
      return { kind: 'waypoint', waypoint: target.waypoint, authority: joinHostPort(ip, port), workload: target };
    const enrolled = this.enrolledAt(ip);
    if (enrolled && enrolled.enrolled)
      return {
        kind: 'hbone',
        address: ip,
        port: this.hbonePort,
        authority: joinHostPort(ip, port),
        identity: enrolled.identity,
        workload: enrolled,
      };
    if (target) return { kind: 'passthrough', address: ip, port, workload: target };
    if (this.outboundPolicy(source) === 'REGISTRY_ONLY') {
      return {
        kind: 'refuse',
        reason: `${joinHostPort(ip, port)} is not a known service or workload (outboundTrafficPolicy REGISTRY_ONLY)`,
      };
    }
    return { kind: 'passthrough', address: ip, port };
  }

  private outboundPolicy(source: Pick<Workload, 'namespace'>): 'ALLOW_ANY' | 'REGISTRY_ONLY' {
    const scope = this.snapshot.sidecarScopes?.find(
      (s) => s.scope.namespace === source.namespace && s.outboundTrafficPolicy,
    );
    return scope?.outboundTrafficPolicy ?? this.snapshot.mesh.outboundTrafficPolicy;
  }

  private routeService(service: Service, sp: ServicePort, ip: string, port: number): OutboundDecision {
    const vipAuthority = joinHostPort(ip, port);
    if (service.waypoint) return { kind: 'waypoint', waypoint: service.waypoint, authority: vipAuthority, service };
    // ServiceEntry resolution NONE without endpoints: the addresses are the destination itself
    // (Istio forwards to the original destination); the entry only declares it known.
    if (service.resolution === 'NONE' && service.endpoints.length === 0)
      return { kind: 'passthrough', address: ip, port, service };
    const healthy = service.endpoints.filter((e) => {
      const w = this.endpointWorkload(e.workloadUid, e.address);
      return w?.healthy !== false;
    });
    if (healthy.length === 0)
      return { kind: 'refuse', reason: `service ${service.key} port ${sp.port} has no healthy endpoint`, service };
    // Enrolled endpoints first (mutual TLS); only when none is enrolled go plaintext.
    const meshed = healthy.filter(
      (e) => this.endpointWorkload(e.workloadUid, e.address)?.enrolled || this.localByIp(e.address),
    );
    const pool = meshed.length > 0 ? meshed : healthy;
    const n = this.rr.get(service.key) ?? 0;
    this.rr.set(service.key, n + 1);
    const ep = pool[n % pool.length]!;
    const targetPort = ep.ports?.[sp.port] ?? sp.targetPort;
    if (meshed.length > 0) {
      const w = this.enrolledAt(ep.address) ?? this.endpointWorkload(ep.workloadUid, ep.address)!;
      return {
        kind: 'hbone',
        address: ep.address,
        port: this.hbonePort,
        authority: joinHostPort(ep.address, targetPort),
        identity: w.identity,
        service,
        workload: w,
      };
    }
    return { kind: 'passthrough', address: ep.address, port: targetPort, service };
  }

  private endpointWorkload(uid: string | undefined, address: string): Workload | undefined {
    return (uid ? this.workloadsByUid.get(uid) : undefined) ?? this.workloadByIp(address);
  }

  /** PeerAuthentication mode for plaintext arriving at `workload:port` (ambient: DISABLE ignored). */
  mtlsMode(workload: Pick<Workload, 'namespace' | 'labels'>, port: number): EffectiveMtlsMode {
    return effectiveMtlsMode(this.snapshot.peerAuthentications, this.snapshot.mesh, workload, port, { ambient: true });
  }
}

/**
 * The outbound decision with on-demand discovery: a destination the current state does not
 * know is looked up first (the controller sends what that address selects; the connection
 * waits for it, it does not fail), then routed with the state current by then.
 */
export async function routeOnDemand(
  state: () => MeshState,
  lookup: ((address: string) => Promise<void>) | undefined,
  source: Pick<Workload, 'namespace'>,
  ip: string,
  port: number,
): Promise<OutboundDecision> {
  if (lookup && !state().knows(ip)) await lookup(ip);
  return state().routeOutbound(source, ip, port);
}

function cidrOf(text: string): CidrBlock | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
