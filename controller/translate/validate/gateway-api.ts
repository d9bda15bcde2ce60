// Validation of the Gateway API objects Ambit reads: Gateway and HTTPRoute (GRPCRoute: grpc-route-validate.ts).
import { arr, rec } from '../raw.js';
import { checkEnum, checkList, checkPort, checkRequiredString, Issues, specOf } from './common.js';
import { checkObjectSchema } from './schema-check.js';
import type { KubeObject } from '../../sources/types.js';

export function validateGatewayApiGateway(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  checkRequiredString(issues, 'spec.gatewayClassName', spec.gatewayClassName);
  checkList(issues, 'spec.listeners', spec.listeners).forEach((l, i) => {
    const listener = rec(l) ?? {};
    checkRequiredString(issues, `spec.listeners[${i}].name`, listener.name);
    checkPort(issues, `spec.listeners[${i}].port`, listener.port, true);
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

export function validateHttpRoute(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  if (checkList(issues, 'spec.parentRefs', spec.parentRefs).length === 0)
    issues.add('spec.parentRefs', 'at least one parentRef is required');
  arr(spec.parentRefs).forEach((p, i) => checkRequiredString(issues, `spec.parentRefs[${i}].name`, rec(p)?.name));
  checkList(issues, 'spec.rules', spec.rules).forEach((r, i) => {
    const rule = rec(r) ?? {};
    arr(rule.matches).forEach((m, j) => {
      const path = rec(rec(m)?.path);
      if (path)
        checkEnum(issues, `spec.rules[${i}].matches[${j}].path.type`, path.type, [
          'Exact',
          'PathPrefix',
          'RegularExpression',
        ]);
    });
    // Filters a waypoint or gateway applies (http-routes.ts); others are refused, never ignored.
    arr(rule.filters).forEach((f, j) =>
      checkEnum(issues, `spec.rules[${i}].filters[${j}].type`, rec(f)?.type, HTTP_ROUTE_FILTERS),
    );
    arr(rule.backendRefs).forEach((b, j) => {
      const ref = rec(b) ?? {};
      checkRequiredString(issues, `spec.rules[${i}].backendRefs[${j}].name`, ref.name);
      if (ref.port !== undefined) checkPort(issues, `spec.rules[${i}].backendRefs[${j}].port`, ref.port);
    });
  });
  return issues;
}
