// AuthorizationPolicy at the waypoint, for every kind of traffic it carries, against the
// workload the traffic actually reaches. The destination agent admits what its waypoint
// relays without checking again, so every policy of a workload behind a waypoint is enforced
// here, once:
// - HTTP: the decision is made per group of endpoints that the same policies select. When
//   every endpoint the request could reach gets the same answer, the authz filter answers
//   before routing (Istio's order); when they differ (a policy selecting `version: v2` only),
//   the router checks the endpoint it picked, before sending anything to it.
// - TCP (and any port the waypoint does not parse): the L4 form of the policies, checked
//   after the endpoint is picked and before a byte is forwarded.
import { namespaceOfPrincipal, stripSpiffe } from '../core/authz/request-view.js';
import { AuthzEngine, type AuthzDecision, type AuthzRequest } from '../core/authz/engine.js';
import type { Cluster, ClusterEndpoint, WaypointConfig } from '../core/model/l7.js';
import type { Labels, Workload } from '../core/model/types.js';

export type WorkloadRef = Pick<Workload, 'namespace' | 'labels'>;

/** One group of endpoints the same policies select: one decision serves them all. */
export interface EndpointGroup {
  readonly selection: string;
  readonly ref: WorkloadRef;
}

export class DestinationAuthz {
  readonly engine: AuthzEngine;
  private readonly refs = new WeakMap<ClusterEndpoint, WorkloadRef>();
  private readonly groupsByVhost = new Map<string, readonly EndpointGroup[]>();

  constructor(
    private readonly config: WaypointConfig,
    private readonly workloadsByIp: ReadonlyMap<string, Workload>,
    private readonly localIp: string,
  ) {
    this.engine = new AuthzEngine(config.authorizationPolicies, config.mesh);
  }

  /** The workload an endpoint stands for: its discovered namespace and labels. */
  refOf(cluster: Pick<Cluster, 'serviceKey'>, e: ClusterEndpoint): WorkloadRef {
    let ref = this.refs.get(e);
    if (!ref) {
      const w = this.workloadsByIp.get(e.address);
      const namespace =
        w?.namespace ??
        (e.identity ? namespaceOfPrincipal(stripSpiffe(e.identity)) : undefined) ??
        cluster.serviceKey?.split('/')[0] ??
        this.config.namespace;
      const labels: Labels = w?.labels ?? e.labels;
      ref = { namespace, labels };
      this.refs.set(e, ref);
    }
    return ref;
  }

  selectionOf(ref: WorkloadRef): string {
    return this.engine.selectionKey(ref);
  }

  /**
   * The endpoint groups a request to this virtual host can reach: endpoints of the service's
   * own cluster and of every route destination and mirror. A virtual host without endpoints
   * stands for its service's namespace (namespace- and mesh-level policies still apply).
   */
  groupsFor(vhostName: string): readonly EndpointGroup[] {
    const cached = this.groupsByVhost.get(vhostName);
    if (cached) return cached;
    const vhost = this.config.virtualHosts.find((v) => v.name === vhostName);
    const names = new Set<string>();
    for (const c of this.config.clusters) {
      if (vhost && c.host === vhost.host && c.port === vhost.port) names.add(c.name);
    }
    for (const r of vhost?.routes ?? []) {
      for (const d of r.destinations ?? []) names.add(d.cluster);
      if (r.mirror) names.add(r.mirror.cluster);
    }
    const groups = new Map<string, EndpointGroup>();
    for (const c of this.config.clusters) {
      if (!names.has(c.name)) continue;
      for (const e of c.endpoints) {
        const ref = this.refOf(c, e);
        const selection = this.selectionOf(ref);
        if (!groups.has(selection)) groups.set(selection, { selection, ref });
      }
    }
    if (groups.size === 0) {
      const ref: WorkloadRef = { namespace: vhost?.serviceKey?.split('/')[0] ?? this.config.namespace, labels: {} };
      groups.set(this.selectionOf(ref), { selection: this.selectionOf(ref), ref });
    }
    const out = [...groups.values()];
    this.groupsByVhost.set(vhostName, out);
    return out;
  }

  /** L4 decision for a TCP connection to one endpoint. */
  authorizeTcp(input: {
    cluster: Cluster;
    endpoint: ClusterEndpoint;
    port: number;
    source: { ip: string; port: number; principal: string; namespace: string | undefined };
  }): AuthzDecision {
    const req: AuthzRequest = {
      source: {
        ip: input.source.ip,
        port: input.source.port,
        principal: input.source.principal,
        ...(input.source.namespace ? { namespace: input.source.namespace } : {}),
      },
      destination: { ip: this.localIp, port: input.port },
    };
    return this.engine.evaluate(this.refOf(input.cluster, input.endpoint), req, 'l4');
  }
}
