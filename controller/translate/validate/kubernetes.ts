// Validation of the Kubernetes kinds the mesh model is built from (Service, Pod, Deployment).
import { rec } from '../raw.js';
import { checkLabels, checkList, checkPort, Issues, specOf } from './common.js';
import { checkObjectSchema } from './schema-check.js';
import type { KubeObject } from '../../sources/types.js';

/** Core kinds: only what would make the mesh model wrong. */
export function validateService(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkLabels(issues, 'spec.selector', spec.selector);
  checkList(issues, 'spec.ports', spec.ports).forEach((p, i) => {
    const port = rec(p) ?? {};
    checkPort(issues, `spec.ports[${i}].port`, port.port, true);
    if (typeof port.targetPort === 'number') checkPort(issues, `spec.ports[${i}].targetPort`, port.targetPort);
  });
  return issues;
}

/** Replicas of one Deployment in local mode (each becomes a pod). */
export const MAX_LOCAL_REPLICAS = 1000;

export function validateWorkloadObject(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  checkLabels(issues, 'metadata.labels', obj.metadata.labels);
  if (obj.kind === 'Deployment') {
    const spec = specOf(obj, issues);
    // Local mode expands each replica into a pod: bound it, or one object could stall the controller.
    if (
      spec.replicas !== undefined &&
      (typeof spec.replicas !== 'number' ||
        !Number.isInteger(spec.replicas) ||
        spec.replicas < 0 ||
        spec.replicas > MAX_LOCAL_REPLICAS)
    ) {
      issues.add('spec.replicas', `replicas must be an integer from 0 to ${MAX_LOCAL_REPLICAS}`);
    }
    checkLabels(issues, 'spec.selector.matchLabels', rec(spec.selector)?.matchLabels);
    checkLabels(issues, 'spec.template.metadata.labels', rec(rec(spec.template)?.metadata)?.labels);
  }
  return issues;
}
