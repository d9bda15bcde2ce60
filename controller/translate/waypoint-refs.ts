// Which waypoint serves a namespace: the namespace label `mesh-waypoint=<name>` (alias
// `istio.io/use-waypoint`, optional `istio.io/use-waypoint-namespace`), resolved to a
// Gateway API Gateway of class `ambit-waypoint` and the workload that runs it.
import { spiffeIdFor } from './identity.js';
import { POD_IP_ANNOTATION } from './workloads.js';
import type { Inventory } from './inventory.js';
import type { K8sGateway } from './decode-kube.js';
import type { Labels, WaypointRef, Workload } from '../../core/model/types.js';
import {
  GATEWAY_NAME_LABEL,
  USE_WAYPOINT_NAMESPACE_LABEL,
  WAYPOINT_CLASSES,
  useWaypointOf,
} from '../../core/mesh/vocabulary.js';

// Re-exported for importers not yet moved to core/mesh.
export { GATEWAY_NAME_LABEL } from '../../core/mesh/vocabulary.js';

/** The waypoint a set of labels asks for, or undefined; `none` opts out. */
export function requestedWaypoint(
  labels: Labels | undefined,
  ownNamespace: string,
): { name: string; namespace: string } | undefined {
  const name = useWaypointOf(labels);
  if (!name || name === 'none' || name === '#none') return undefined;
  return { name, namespace: labels?.[USE_WAYPOINT_NAMESPACE_LABEL] ?? ownNamespace };
}

export function isWaypointGateway(gw: K8sGateway): boolean {
  return WAYPOINT_CLASSES.includes(gw.spec.gatewayClassName);
}

export interface WaypointResolution {
  readonly ref?: WaypointRef;
  /** Why the label could not be resolved (reported as a rejection of the labelled object). */
  readonly problem?: string;
}

export class WaypointResolver {
  private readonly gateways = new Map<string, K8sGateway>();
  constructor(
    inv: Inventory,
    private readonly workloads: readonly Workload[],
    private readonly trustDomain: string,
  ) {
    for (const gw of inv.k8sGateways)
      if (isWaypointGateway(gw)) this.gateways.set(`${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`, gw);
  }

  /** Workloads that run waypoint `<ns>/<name>` (never themselves sent through a waypoint). */
  workloadsOf(namespace: string, name: string): Workload[] {
    return this.workloads.filter((w) => w.namespace === namespace && w.labels[GATEWAY_NAME_LABEL] === name);
  }

  resolve(want: { name: string; namespace: string }): WaypointResolution {
    const gw = this.gateways.get(`${want.namespace}/${want.name}`);
    if (!gw) return { problem: `waypoint Gateway ${want.namespace}/${want.name} of class ambit-waypoint not found` };
    const runners = this.workloadsOf(want.namespace, want.name);
    const statusAddress = (gw.status?.addresses ?? []).map((a) => a.value).find((v) => !!v);
    const address =
      statusAddress ??
      gw.metadata.annotations?.[POD_IP_ANNOTATION] ??
      runners.find((w) => w.ips.length > 0)?.ips[0] ??
      '';
    const sa = runners[0]?.serviceAccount ?? want.name;
    return {
      ref: {
        name: want.name,
        namespace: want.namespace,
        address,
        identity: spiffeIdFor(this.trustDomain, want.namespace, sa),
      },
    };
  }
}
