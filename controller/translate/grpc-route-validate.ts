// Validation of a Gateway API GRPCRoute (gateway.networking.k8s.io/v1): the fields the
// translator reads, with the rules of the Gateway API's CRD (a method match names a service
// or a method; regular expressions RE2; filters the waypoint can apply).
import { arr, rec } from './raw.js';
import { checkEnum, checkList, checkPort, checkRegex, checkRequiredString, Issues, specOf } from './validate/common.js';
import { checkObjectSchema } from './validate/schema-check.js';
import type { KubeObject } from '../sources/types.js';

/** GRPCRoute filters a waypoint applies; ExtensionRef names an implementation's own resource. */
export const GRPC_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'];

export function validateGrpcRoute(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  if (checkList(issues, 'spec.parentRefs', spec.parentRefs).length === 0)
    issues.add('spec.parentRefs', 'at least one parentRef is required');
  arr(spec.parentRefs).forEach((p, i) => checkRequiredString(issues, `spec.parentRefs[${i}].name`, rec(p)?.name));
  checkList(issues, 'spec.rules', spec.rules).forEach((r, i) => {
    const rule = rec(r) ?? {};
    const at = `spec.rules[${i}]`;
    checkList(issues, `${at}.matches`, rule.matches).forEach((m, j) => {
      const method = rec(rec(m)?.method);
      if (!method) return;
      const field = `${at}.matches[${j}].method`;
      checkEnum(issues, `${field}.type`, method.type, ['Exact', 'RegularExpression']);
      if (method.service === undefined && method.method === undefined)
        issues.add(field, 'at least one of service and method must be set');
      if (method.type === 'RegularExpression') {
        if (method.service !== undefined) checkRegex(issues, `${field}.service`, method.service);
        if (method.method !== undefined) checkRegex(issues, `${field}.method`, method.method);
      } else {
        for (const k of ['service', 'method'] as const)
          if (method[k] !== undefined && (typeof method[k] !== 'string' || /\//.test(method[k])))
            issues.add(`${field}.${k}`, 'must be a name without "/"');
      }
      checkList(issues, `${at}.matches[${j}].headers`, rec(m)?.headers).forEach((h, k) => {
        checkRequiredString(issues, `${at}.matches[${j}].headers[${k}].name`, rec(h)?.name);
        checkEnum(issues, `${at}.matches[${j}].headers[${k}].type`, rec(h)?.type, ['Exact', 'RegularExpression']);
      });
    });
    checkList(issues, `${at}.filters`, rule.filters).forEach((f, j) =>
      checkEnum(issues, `${at}.filters[${j}].type`, rec(f)?.type, GRPC_FILTERS),
    );
    checkList(issues, `${at}.backendRefs`, rule.backendRefs).forEach((b, j) => {
      const ref = rec(b) ?? {};
      checkRequiredString(issues, `${at}.backendRefs[${j}].name`, ref.name);
      if (ref.port !== undefined) checkPort(issues, `${at}.backendRefs[${j}].port`, ref.port);
    });
  });
  return issues;
}
