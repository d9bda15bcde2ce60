// The agent's side of the CNI enrolment protocol (core/enrolment). The agent, not the plugin,
// decides enrolment: pod opt-out label, then the mesh's view of the pod, then its namespace's
// labels. It fails closed: a pod of a namespace the agent does not know yet (the controller
// has not sent it) gets a retry answer, so the CNI ADD fails, the pod is left as it was and
// the kubelet tries again; a pod of an ambient namespace never starts uncaptured.
// With a controller, the pod itself must be known too: its opt-out label (a waypoint's
// `mesh-mode: none`) is only in the controller's view, and the kubelet runs CNI ADD moments
// after the pod is created, often before the controller has pushed it.
import {
  RetryLater,
  type EnrolmentHandler,
  type EnrolmentQuery,
  type PodInfo,
  type QueryAnswer,
} from '../core/enrolment/index.js';
import type { MeshSnapshot } from '../core/model/types.js';
import { isAmbient, meshModeOf } from '../core/mesh/vocabulary.js';

/**
 * A namespace's labels from the snapshot (discovery: the Namespace resources; file mode: a
 * top-level `namespaces: [{name, labels}]` list), or undefined when it is not there.
 */
export function namespaceLabels(
  snapshot: MeshSnapshot,
  namespace: string,
): Readonly<Record<string, string>> | undefined {
  const list: unknown = snapshot.namespaces;
  if (!Array.isArray(list)) return undefined;
  const hit = list.find(
    (n): n is { name: string; labels?: Record<string, string> } =>
      typeof n === 'object' && n !== null && (n as { name?: unknown }).name === namespace,
  );
  return hit ? (hit.labels ?? {}) : undefined;
}

/**
 * Whether a pod is captured: `mesh-mode=none` on the pod opts out; otherwise the controller's
 * view of the pod, then its namespace's label. Throws RetryLater when neither the pod nor its
 * namespace is known yet.
 */
export function isEnrolled(snapshot: MeshSnapshot, q: EnrolmentQuery, podMustBeKnown = false): boolean {
  const podMode = meshModeOf(q.labels);
  if (podMode === 'none') return false;
  if (podMode === 'ambient') return true;
  const workload = snapshot.workloads.find((w) => w.kind === 'Pod' && w.namespace === q.namespace && w.name === q.name);
  if (workload) return workload.enrolled;
  const nsLabels = namespaceLabels(snapshot, q.namespace);
  if (nsLabels && !isAmbient(nsLabels)) return false;
  if (nsLabels && !podMustBeKnown) return true;
  if (nsLabels)
    throw new RetryLater(
      `pod ${q.namespace}/${q.name} is not known to this agent yet (the controller has not sent it, ` +
        'and its labels may opt it out); retry',
    );
  throw new RetryLater(
    `namespace ${q.namespace} of pod ${q.namespace}/${q.name} is not known to this agent yet ` +
      '(the controller has not sent it); retry',
  );
}

export interface PodLifecycle {
  snapshot(): MeshSnapshot;
  pods(): PodInfo[];
  enrol(pod: PodInfo): Promise<void>;
  remove(uid: string, netnsPath?: string): Promise<void>;
}

export interface EnrolmentOptions {
  /** Controller mode: a pod of an ambient namespace is only enrolled once the controller has sent it. */
  readonly podMustBeKnown?: boolean;
  /** How long a query waits for the pod or its namespace to arrive before asking the plugin to retry. */
  readonly waitMs?: number;
  /** The agent serves a DNS proxy in each pod (false: its DNS port is 0, so port 53 must not be redirected). */
  readonly dnsProxy?: boolean;
}

/**
 * Whether a captured pod's DNS goes to the agent: the mesh's DNS capture (Istio's
 * ISTIO_META_DNS_CAPTURE, on unless set false) and a DNS proxy to send it to. Off: the
 * plugin writes no port-53 redirect, and the pod's resolver is asked directly.
 */
export function capturesDns(snapshot: MeshSnapshot, dnsProxy = true): boolean {
  return dnsProxy && snapshot.mesh.dnsCapture !== false;
}

/** Answer a query, waiting up to `waitMs` for the snapshot to learn the pod (usually a push away). */
async function decide(agent: PodLifecycle, q: EnrolmentQuery, opts: EnrolmentOptions): Promise<QueryAnswer> {
  const deadline = Date.now() + (opts.waitMs ?? 3_000);
  for (;;) {
    try {
      const snapshot = agent.snapshot();
      if (!isEnrolled(snapshot, q, opts.podMustBeKnown ?? false)) return { enrolled: false };
      return { enrolled: true, dnsCapture: capturesDns(snapshot, opts.dnsProxy) };
    } catch (err) {
      if (!(err instanceof RetryLater) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function enrolmentHandler(agent: PodLifecycle, opts: EnrolmentOptions = {}): EnrolmentHandler {
  return {
    query: (q) => decide(agent, q, opts),
    add: (pod) => agent.enrol(pod),
    delete: (uid, netnsPath) => agent.remove(uid, netnsPath),
    list: () => Promise.resolve(agent.pods()),
  };
}
