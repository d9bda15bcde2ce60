// The agent's side of the CNI enrolment protocol (core/enrolment). The agent, not the plugin,
// decides enrolment: pod opt-out label, then the mesh's view of the pod, then its namespace.
import type { EnrolmentHandler, EnrolmentQuery, PodInfo } from '../core/enrolment/index.js';
import type { MeshSnapshot } from '../core/model/types.js';

/** Label values, Ambit's name first, Istio's alias second. */
const MODE_LABELS = ['mesh-mode', 'istio.io/dataplane-mode'] as const;

export function modeOf(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  if (!labels) return undefined;
  for (const key of MODE_LABELS) if (labels[key] !== undefined) return labels[key];
  return undefined;
}

/**
 * Namespace labels, when the snapshot carries them (file mode: a top-level
 * `namespaces: [{name, labels}]` list).
 */
export function namespaceLabels(snapshot: MeshSnapshot, namespace: string): Readonly<Record<string, string>> | undefined {
  const list = (snapshot as { namespaces?: unknown }).namespaces;
  if (!Array.isArray(list)) return undefined;
  const hit = list.find((n): n is { name: string; labels?: Record<string, string> } =>
    typeof n === 'object' && n !== null && (n as { name?: unknown }).name === namespace);
  return hit ? (hit.labels ?? {}) : undefined;
}

/** Whether a pod is captured: `mesh-mode=none` on the pod opts out; otherwise pod, workload, namespace. */
export function isEnrolled(snapshot: MeshSnapshot, q: EnrolmentQuery, localPods: readonly PodInfo[]): boolean {
  const podMode = modeOf(q.labels);
  if (podMode === 'none') return false;
  if (podMode === 'ambient') return true;
  const workload = snapshot.workloads.find((w) => w.kind === 'Pod' && w.namespace === q.namespace && w.name === q.name);
  if (workload) return workload.enrolled;
  const nsLabels = namespaceLabels(snapshot, q.namespace);
  if (nsLabels) return modeOf(nsLabels) === 'ambient';
  // Without namespace labels: a namespace with enrolled workloads is an ambient namespace.
  return snapshot.workloads.some((w) => w.namespace === q.namespace && w.enrolled)
    || localPods.some((p) => p.namespace === q.namespace);
}

export interface PodLifecycle {
  snapshot(): MeshSnapshot;
  pods(): PodInfo[];
  enrol(pod: PodInfo): Promise<void>;
  remove(uid: string, netnsPath?: string): Promise<void>;
}

export function enrolmentHandler(agent: PodLifecycle): EnrolmentHandler {
  return {
    query: (q) => Promise.resolve(isEnrolled(agent.snapshot(), q, agent.pods())),
    add: (pod) => agent.enrol(pod),
    delete: (uid, netnsPath) => agent.remove(uid, netnsPath),
    list: () => Promise.resolve(agent.pods()),
  };
}
