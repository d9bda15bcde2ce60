// Validation of the Gateway API objects Ambit reads: Gateway and HTTPRoute (GRPCRoute:
// grpc-route-validate.ts), on the decoded object (decode-kube.ts has checked types, enums and
// required fields): ports in range, names not empty, and only the filters Ambit applies.
import { checkEnum, checkPort, checkRequiredString, Issues } from './common.js';
import type { HttpRoute, K8sGateway } from '../decode-kube.js';

export function validateGatewayApiGateway(obj: K8sGateway): Issues {
  const issues = new Issues();
  checkRequiredString(issues, 'spec.gatewayClassName', obj.spec.gatewayClassName);
  (obj.spec.listeners ?? []).forEach((l, i) => {
    checkRequiredString(issues, `spec.listeners[${i}].name`, l.name);
    checkPort(issues, `spec.listeners[${i}].port`, l.port, true);
  });
  return issues;
}

const HTTP_ROUTE_FILTERS = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestRedirect',
  'URLRewrite',
  'RequestMirror',
];

/** parentRefs: at least one, each naming its parent. */
export function checkParentRefs(issues: Issues, parentRefs: readonly { readonly name: string }[] | undefined): void {
  if (!parentRefs || parentRefs.length === 0) issues.add('spec.parentRefs', 'at least one parentRef is required');
  (parentRefs ?? []).forEach((p, i) => checkRequiredString(issues, `spec.parentRefs[${i}].name`, p.name));
}

/** A backendRef names its Service; its port, when given, is a port. */
export function checkBackendRef(
  issues: Issues,
  at: string,
  ref: { readonly name: string; readonly port?: number },
): void {
  checkRequiredString(issues, `${at}.name`, ref.name);
  if (ref.port !== undefined) checkPort(issues, `${at}.port`, ref.port);
}

export function validateHttpRoute(obj: HttpRoute): Issues {
  const issues = new Issues();
  checkParentRefs(issues, obj.spec.parentRefs);
  (obj.spec.rules ?? []).forEach((rule, i) => {
    // Filters a waypoint or gateway applies (http-routes.ts); others are refused, never ignored.
    (rule.filters ?? []).forEach((f, j) =>
      checkEnum(issues, `spec.rules[${i}].filters[${j}].type`, f.type, HTTP_ROUTE_FILTERS),
    );
    (rule.backendRefs ?? []).forEach((b, j) => checkBackendRef(issues, `spec.rules[${i}].backendRefs[${j}]`, b));
  });
  return issues;
}
