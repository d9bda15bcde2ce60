// VirtualService validation: what Istio's admission webhook rejects, with the field path.
import { arr, rec, type Raw } from '../raw.js';
import {
  checkDuration,
  checkEnum,
  checkHost,
  checkLabels,
  checkList,
  checkPercentage,
  checkPort,
  checkStringList,
  checkStringMatch,
  Issues,
  specOf,
} from './common.js';
import { checkObjectSchema } from './schema-check.js';
import type { KubeObject } from '../../sources/types.js';

const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
  'reset-before-request',
  'http3-post-connect-failure',
]);

export function validateVirtualService(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues);
  // A VirtualService without hosts is a delegate: only another VirtualService's `delegate` uses it.
  const delegate = spec.hosts === undefined || (Array.isArray(spec.hosts) && spec.hosts.length === 0);
  checkStringList(issues, 'spec.hosts', spec.hosts);
  arr(spec.hosts).forEach((h, i) => checkHost(issues, `spec.hosts[${i}]`, h));
  checkStringList(issues, 'spec.gateways', spec.gateways);
  if (delegate && Array.isArray(spec.gateways) && spec.gateways.length > 0) {
    issues.add('spec.gateways', 'a delegate VirtualService (no hosts) must not set gateways');
  }
  const gateways = Array.isArray(spec.gateways) ? spec.gateways : [];
  if (gateways.length === 0 || gateways.includes('mesh')) {
    arr(spec.hosts).forEach((h, i) => {
      if (h === '*')
        issues.add(`spec.hosts[${i}]`, 'wildcard host * is not allowed for VirtualServices bound to the mesh');
    });
  }
  checkStringList(issues, 'spec.exportTo', spec.exportTo);
  checkList(issues, 'spec.http', spec.http).forEach((route, i) => checkHttpRoute(issues, `spec.http[${i}]`, route));
  checkList(issues, 'spec.tcp', spec.tcp).forEach((route, i) => checkL4Route(issues, `spec.tcp[${i}]`, route, false));
  checkList(issues, 'spec.tls', spec.tls).forEach((route, i) => checkL4Route(issues, `spec.tls[${i}]`, route, true));
  return issues;
}

/** A `tcp[]` or `tls[]` route; a `tls` route needs match blocks, each with `sniHosts` (as Istio requires). */
function checkL4Route(issues: Issues, at: string, value: unknown, tls: boolean): void {
  const r = rec(value);
  if (!r) return issues.add(at, 'must be a map');
  const matches = checkList(issues, `${at}.match`, r.match);
  if (tls && matches.length === 0) issues.add(`${at}.match`, 'a tls route needs at least one match with sniHosts');
  matches.forEach((value, j) => {
    const m = rec(value);
    const mat = `${at}.match[${j}]`;
    if (!m) return issues.add(mat, 'must be a map');
    checkPort(issues, `${mat}.port`, m.port);
    checkLabels(issues, `${mat}.sourceLabels`, m.sourceLabels);
    checkStringList(issues, `${mat}.gateways`, m.gateways);
    checkStringList(issues, `${mat}.destinationSubnets`, m.destinationSubnets);
    if (tls) {
      checkStringList(issues, `${mat}.sniHosts`, m.sniHosts, true);
      arr(m.sniHosts).forEach((h, k) => checkHost(issues, `${mat}.sniHosts[${k}]`, h));
    }
  });
  checkDestinations(issues, `${at}.route`, r.route, true);
}

export function checkHttpRoute(issues: Issues, at: string, value: unknown): void {
  const r = rec(value);
  if (!r) return issues.add(at, 'must be a map');
  checkList(issues, `${at}.match`, r.match).forEach((m, j) => checkMatch(issues, `${at}.match[${j}]`, m));
  const hasRoute = Array.isArray(r.route) && r.route.length > 0;
  if (r.redirect !== undefined && hasRoute) issues.add(`${at}.redirect`, 'cannot set both route and redirect');
  if (r.redirect !== undefined && r.directResponse !== undefined)
    issues.add(`${at}.directResponse`, 'cannot set both redirect and directResponse');
  if (!hasRoute && r.redirect === undefined && r.directResponse === undefined && r.delegate === undefined) {
    issues.add(`${at}.route`, 'a route, redirect or directResponse is required');
  }
  if (r.delegate !== undefined) {
    issues.add(
      `${at}.delegate`,
      'not supported by Ambit: delegate VirtualServices (inline the routes of the delegate)',
    );
  }
  if (r.directResponse !== undefined) {
    const dr = rec(r.directResponse);
    const status = dr?.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599)
      issues.add(`${at}.directResponse.status`, `invalid HTTP status ${JSON.stringify(status)} (200..599)`);
    if (hasRoute) issues.add(`${at}.directResponse`, 'cannot set both route and directResponse');
  }
  checkDestinations(issues, `${at}.route`, r.route, false);
  if (r.redirect !== undefined) checkRedirect(issues, `${at}.redirect`, r.redirect);
  if (r.rewrite !== undefined) {
    const rw = rec(r.rewrite);
    if (!rw) issues.add(`${at}.rewrite`, 'must be a map');
    else if (r.redirect !== undefined) issues.add(`${at}.rewrite`, 'cannot set both rewrite and redirect');
    else
      for (const k of ['uri', 'authority'] as const)
        if (rw[k] !== undefined && typeof rw[k] !== 'string') issues.add(`${at}.rewrite.${k}`, 'must be a string');
  }
  checkDuration(issues, `${at}.timeout`, r.timeout);
  if (r.retries !== undefined) checkRetries(issues, `${at}.retries`, r.retries);
  if (r.fault !== undefined) checkFault(issues, `${at}.fault`, r.fault);
  if (r.mirror !== undefined) checkDestination(issues, `${at}.mirror`, r.mirror);
  checkPercentage(issues, `${at}.mirrorPercentage`, r.mirrorPercentage);
  if (r.mirror_percent !== undefined) checkPercent(issues, `${at}.mirror_percent`, r.mirror_percent);
  if (r.headers !== undefined) checkHeaders(issues, `${at}.headers`, r.headers);
  if (r.corsPolicy !== undefined) checkCorsPolicy(issues, `${at}.corsPolicy`, r.corsPolicy);
}

function checkCorsPolicy(issues: Issues, at: string, value: unknown): void {
  const c = rec(value);
  if (!c) return issues.add(at, 'must be a map');
  checkList(issues, `${at}.allowOrigins`, c.allowOrigins).forEach((m, i) =>
    checkStringMatch(issues, `${at}.allowOrigins[${i}]`, m),
  );
  for (const k of ['allowMethods', 'allowHeaders', 'exposeHeaders'] as const)
    checkStringList(issues, `${at}.${k}`, c[k]);
  checkDuration(issues, `${at}.maxAge`, c.maxAge);
  checkEnum(issues, `${at}.unmatchedPreflights`, c.unmatchedPreflights, ['UNSPECIFIED', 'FORWARD', 'IGNORE']);
}

function checkPercent(issues: Issues, at: string, v: unknown): void {
  if (typeof v !== 'number' || v < 0 || v > 100)
    issues.add(at, `percentage ${JSON.stringify(v)} must be between 0 and 100`);
}

function checkMatch(issues: Issues, at: string, value: unknown): void {
  const m = rec(value);
  if (!m) return issues.add(at, 'must be a map');
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const)
    if (m[k] !== undefined) checkStringMatch(issues, `${at}.${k}`, m[k]);
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    if (m[k] === undefined) continue;
    const map = rec(m[k]);
    if (!map) {
      issues.add(`${at}.${k}`, 'must be a map of name → match');
      continue;
    }
    for (const [name, sm] of Object.entries(map)) {
      // `{}` (presence) is allowed for headers; otherwise exactly one match type.
      if (rec(sm) && Object.keys(rec(sm) ?? {}).length === 0) continue;
      checkStringMatch(issues, `${at}.${k}.${name}`, sm);
    }
  }
  checkLabels(issues, `${at}.sourceLabels`, m.sourceLabels);
  checkPort(issues, `${at}.port`, m.port);
  checkStringList(issues, `${at}.gateways`, m.gateways);
}

export function checkDestination(issues: Issues, at: string, value: unknown): void {
  const d = rec(value);
  if (!d) return issues.add(at, 'destination is required');
  if (d.host === '*') issues.add(`${at}.host`, 'destination host * is not allowed (use a name or *.suffix)');
  else checkHost(issues, `${at}.host`, d.host);
  if (d.subset !== undefined && (typeof d.subset !== 'string' || d.subset === ''))
    issues.add(`${at}.subset`, 'must be a non-empty string');
  if (d.port !== undefined) {
    const p = rec(d.port);
    if (!p) issues.add(`${at}.port`, 'must be {number: <port>}');
    else checkPort(issues, `${at}.port.number`, p.number, true);
  }
}

function checkDestinations(issues: Issues, at: string, value: unknown, required: boolean): void {
  const list = checkList(issues, at, value);
  if (required && list.length === 0) issues.add(at, 'at least one destination is required');
  list.forEach((dw, k) => {
    const d = rec(dw);
    if (!d) return issues.add(`${at}[${k}]`, 'must be a map');
    checkDestination(issues, `${at}[${k}].destination`, d.destination);
    // Weights need not sum to 100: as in Istio, each destination gets its share of the total.
    if (d.weight !== undefined && (typeof d.weight !== 'number' || !Number.isInteger(d.weight) || d.weight < 0)) {
      issues.add(`${at}[${k}].weight`, `weight ${JSON.stringify(d.weight)} must be a non-negative integer`);
    }
    if (d.headers !== undefined) checkHeaders(issues, `${at}[${k}].headers`, d.headers);
  });
  const weights = list.map((dw) => rec(dw)?.weight);
  if (list.length > 1 && weights.every((w) => typeof w === 'number' && w === 0))
    issues.add(at, 'total destination weight is 0');
}

function checkRedirect(issues: Issues, at: string, value: unknown): void {
  const r = rec(value);
  if (!r) return issues.add(at, 'must be a map');
  for (const k of ['uri', 'authority', 'scheme'] as const)
    if (r[k] !== undefined && typeof r[k] !== 'string') issues.add(`${at}.${k}`, 'must be a string');
  if (r.redirectCode !== undefined) {
    const c = r.redirectCode;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 300 || c > 399)
      issues.add(`${at}.redirectCode`, `redirect code ${JSON.stringify(c)} must be 3xx`);
  }
  if (r.port !== undefined) checkPort(issues, `${at}.port`, r.port);
  if (
    r.uri === undefined &&
    r.authority === undefined &&
    r.scheme === undefined &&
    r.port === undefined &&
    r.derivePort === undefined
  ) {
    issues.add(at, 'redirect must specify uri, authority, scheme or port');
  }
}

function checkRetries(issues: Issues, at: string, value: unknown): void {
  const r = rec(value);
  if (!r) return issues.add(at, 'must be a map');
  if (r.attempts !== undefined && (typeof r.attempts !== 'number' || !Number.isInteger(r.attempts) || r.attempts < 0)) {
    issues.add(`${at}.attempts`, 'attempts must be a non-negative integer');
  }
  checkDuration(issues, `${at}.perTryTimeout`, r.perTryTimeout);
  if (r.retryOn !== undefined) {
    if (typeof r.retryOn !== 'string') issues.add(`${at}.retryOn`, 'must be a comma-separated string');
    else
      for (const cond of r.retryOn.split(',').map((s) => s.trim())) {
        if (!RETRY_ON.has(cond) && !/^[1-5]\d\d$/.test(cond))
          issues.add(`${at}.retryOn`, `unknown retry condition "${cond}"`);
      }
  }
}

function checkFault(issues: Issues, at: string, value: unknown): void {
  const f = rec(value);
  if (!f) return issues.add(at, 'must be a map');
  if (f.abort === undefined && f.delay === undefined) issues.add(at, 'fault must specify abort or delay');
  if (f.abort !== undefined) {
    const a = rec(f.abort) ?? {};
    if (a.httpStatus === undefined && a.grpcStatus === undefined)
      issues.add(`${at}.abort.httpStatus`, 'required field is missing');
    else if (
      a.httpStatus !== undefined &&
      (typeof a.httpStatus !== 'number' || a.httpStatus < 200 || a.httpStatus > 599)
    ) {
      issues.add(`${at}.abort.httpStatus`, `invalid HTTP status ${JSON.stringify(a.httpStatus)} (200..599)`);
    }
    checkPercentage(issues, `${at}.abort.percentage`, a.percentage);
  }
  if (f.delay !== undefined) {
    const d = rec(f.delay) ?? {};
    if (d.fixedDelay === undefined && d.exponentialDelay === undefined)
      issues.add(`${at}.delay.fixedDelay`, 'required field is missing');
    checkDuration(issues, `${at}.delay.fixedDelay`, d.fixedDelay);
    checkPercentage(issues, `${at}.delay.percentage`, d.percentage);
  }
}

export function checkHeaders(issues: Issues, at: string, value: unknown): void {
  const h: Raw | undefined = rec(value);
  if (!h) return issues.add(at, 'must be a map with request/response');
  for (const side of ['request', 'response'] as const) {
    if (h[side] === undefined) continue;
    const ops = rec(h[side]);
    if (!ops) {
      issues.add(`${at}.${side}`, 'must be a map with set/add/remove');
      continue;
    }
    for (const op of ['set', 'add'] as const) {
      if (ops[op] === undefined) continue;
      const m = rec(ops[op]);
      if (!m) {
        issues.add(`${at}.${side}.${op}`, 'must be a map of header → value');
        continue;
      }
      for (const [k, v] of Object.entries(m))
        if (typeof v !== 'string') issues.add(`${at}.${side}.${op}.${k}`, 'header value must be a string');
    }
    checkStringList(issues, `${at}.${side}.remove`, ops.remove);
  }
}
