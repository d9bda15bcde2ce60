// What the proxy handlers share: the current mesh view, certificates, the HBONE pool, the
// connection tracker. One per agent; a PodContext per enrolled pod.
import type { HbonePool } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import type { Logger } from '../../core/log.js';
import { workloadNameOf } from '../../core/metrics/labels.js';
import type { PodInfo } from '../../core/enrolment/index.js';
import type { AgentPorts } from '../config/env.js';
import type { MeshState, LocalWorkload } from '../state/mesh-state.js';
import type { ConnectionTracker, Peer } from './connections.js';
import type { PodNet } from './pod-net.js';
import type { ResolveHost } from './external-dns.js';

export interface ProxyContext {
  state(): MeshState;
  /** On-demand discovery: fetch what an address or hostname the state does not know selects. */
  lookup?(address: string): Promise<void>;
  /** Current credentials of an identity (held since enrolment; rotated by the store). */
  credentials(identity: string): Promise<Credentials>;
  readonly pool: HbonePool;
  readonly tracker: ConnectionTracker;
  readonly ports: AgentPorts;
  readonly log: Logger;
  /** Sockets in the pods' network namespaces (the addon in production, loopback in unit tests). */
  readonly net: PodNet;
  /** Resolves ServiceEntry endpoint names (resolution DNS); default: the node's resolver, cached. */
  readonly resolveHost?: ResolveHost;
}

export interface PodContext {
  readonly pod: PodInfo;
  /** SPIFFE id the pod's tunnels present. */
  readonly identity: string;
  readonly workload: LocalWorkload;
}

/** How a pod appears in connection records. */
export function podPeer(pod: PodContext, ip: string, port: number): Peer {
  const labels = pod.workload.labels;
  return {
    ip,
    port,
    identity: pod.identity,
    workload: pod.pod.name,
    namespace: pod.pod.namespace,
    workloadName: workloadNameOf({ name: pod.pod.name, labels }),
    ...(labels.app ? { app: labels.app } : {}),
    ...(labels.version ? { version: labels.version } : {}),
  };
}
