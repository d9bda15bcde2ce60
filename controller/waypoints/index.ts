// Entry point for the controller's main (kube mode): one reconciler over the REST client.
//   const waypoints = createKubeWaypointReconciler(kc, { namespace: POD_NAMESPACE, log });
//   after every change of the object store: waypoints.update(store.objects());   on stop: waypoints.close();
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../core/log.js';
import { restWaypointClient } from './kube-client.js';
import { WaypointReconciler } from './reconciler.js';

export {
  WaypointReconciler,
  reconcileWaypoints,
  type ReconcileResult,
  type WaypointReconcilerOptions,
} from './reconciler.js';
export { restWaypointClient, type WaypointKubeClient, type ObjectRef } from './kube-client.js';
export {
  desiredState,
  desiredForGateway,
  templateFromConfigMap,
  formatProblem,
  type Manifest,
  type WaypointProblem,
} from './desired.js';

export function createKubeWaypointReconciler(
  kc: KubeConfig,
  opts: { namespace: string; log?: Logger; resyncMs?: number },
): WaypointReconciler {
  return new WaypointReconciler({
    client: restWaypointClient(kc),
    templateNamespace: opts.namespace,
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
  });
}
