// Validation of a Gateway API GRPCRoute (gateway.networking.k8s.io/v1) on the decoded object
// (decode-kube.ts has checked types, enums and required fields), with the rules of the Gateway
// API's CRD: a method match names a service or a method; regular expressions RE2; filters the
// waypoint can apply.
import { checkEnum, checkRegex, checkRequiredString, Issues } from './validate/common.js';
import { checkBackendRef, checkParentRefs } from './validate/gateway-api.js';
import type { GrpcRoute } from './decode-kube.js';

/** GRPCRoute filters a waypoint applies; ExtensionRef names an implementation's own resource. */
export const GRPC_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'];

export function validateGrpcRoute(obj: GrpcRoute): Issues {
  const issues = new Issues();
  checkParentRefs(issues, obj.spec.parentRefs);
  (obj.spec.rules ?? []).forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    (rule.matches ?? []).forEach((m, j) => {
      (m.headers ?? []).forEach((h, k) =>
        checkRequiredString(issues, `${at}.matches[${j}].headers[${k}].name`, h.name),
      );
      const method = m.method;
      if (!method) return;
      const field = `${at}.matches[${j}].method`;
      if (method.service === undefined && method.method === undefined)
        issues.add(field, 'at least one of service and method must be set');
      for (const k of ['service', 'method'] as const) {
        const value = method[k];
        if (value === undefined) continue;
        if (method.type === 'RegularExpression') checkRegex(issues, `${field}.${k}`, value);
        else if (value.includes('/')) issues.add(`${field}.${k}`, 'must be a name without "/"');
      }
    });
    (rule.filters ?? []).forEach((f, j) => checkEnum(issues, `${at}.filters[${j}].type`, f.type, GRPC_FILTERS));
    (rule.backendRefs ?? []).forEach((b, j) => checkBackendRef(issues, `${at}.backendRefs[${j}]`, b));
  });
  return issues;
}
