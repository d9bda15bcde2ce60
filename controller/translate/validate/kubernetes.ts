// Validation of the Kubernetes kinds the mesh model is built from (Service, Pod, Deployment),
// on the decoded object (decode-kube.ts has checked types and required fields): only what
// would make the mesh model wrong.
import { checkLabels, checkPort, Issues } from './common.js';
import type { Deployment, K8sService, Pod } from '../decode-kube.js';

export function validateService(obj: K8sService): Issues {
  const issues = new Issues();
  (obj.spec?.ports ?? []).forEach((p, i) => {
    checkPort(issues, `spec.ports[${i}].port`, p.port, true);
    if (typeof p.targetPort === 'number') checkPort(issues, `spec.ports[${i}].targetPort`, p.targetPort);
  });
  return issues;
}

/** Replicas of one Deployment in local mode (each becomes a pod). */
export const MAX_LOCAL_REPLICAS = 1000;

export function validatePod(obj: Pod): Issues {
  const issues = new Issues();
  checkLabels(issues, 'metadata.labels', obj.metadata.labels);
  return issues;
}

export function validateDeployment(obj: Deployment): Issues {
  const issues = new Issues();
  checkLabels(issues, 'metadata.labels', obj.metadata.labels);
  const spec = obj.spec;
  // Local mode expands each replica into a pod: bound it, or one object could stall the controller.
  if (spec?.replicas !== undefined && (spec.replicas < 0 || spec.replicas > MAX_LOCAL_REPLICAS))
    issues.add('spec.replicas', `replicas must be an integer from 0 to ${MAX_LOCAL_REPLICAS}`);
  checkLabels(issues, 'spec.selector.matchLabels', spec?.selector?.matchLabels);
  checkLabels(issues, 'spec.template.metadata.labels', spec?.template?.metadata?.labels);
  return issues;
}
