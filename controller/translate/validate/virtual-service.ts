// VirtualService validation: what Istio's admission webhook rejects, with the field path. It
// reads the decoded spec: types, enums, required and unknown fields were checked by decoding
// (core/crds/decode.ts); these are Istio's value rules.
import {
  checkDuration,
  checkHost,
  checkLabels,
  checkPercentage,
  checkPort,
  checkStringList,
  checkStringMatch,
  Issues,
} from './common.js';
import type {
  CorsPolicySpec,
  DestinationSpec,
  HeadersSpec,
  HttpMatchSpec,
  HttpRouteDestinationSpec,
  HttpRouteSpec,
  L4MatchSpec,
  L4RouteSpec,
  VirtualServiceObject,
} from '../virtual-service-spec.js';

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

export function validateVirtualService(obj: VirtualServiceObject): Issues {
  const issues = new Issues();
  const { spec } = obj;
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  // A VirtualService without hosts is a delegate: only another VirtualService's `delegate` uses it.
  const delegate = hosts.length === 0;
  checkStringList(issues, 'spec.hosts', spec.hosts);
  hosts.forEach((h, i) => checkHost(issues, `spec.hosts[${i}]`, h));
  checkStringList(issues, 'spec.gateways', spec.gateways);
  if (delegate && gateways.length > 0) {
    issues.add('spec.gateways', 'a delegate VirtualService (no hosts) must not set gateways');
  }
  for (const kind of ['tcp', 'tls'] as const)
    if (delegate && (spec[kind]?.length ?? 0) > 0)
      issues.add(`spec.${kind}`, `a delegate VirtualService (no hosts) has http routes only, no ${kind} routes`);
  if (gateways.length === 0 || gateways.includes('mesh')) {
    hosts.forEach((h, i) => {
      if (h === '*')
        issues.add(`spec.hosts[${i}]`, 'wildcard host * is not allowed for VirtualServices bound to the mesh');
    });
  }
  checkStringList(issues, 'spec.exportTo', spec.exportTo);
  spec.http?.forEach((route, i) => checkHttpRoute(issues, `spec.http[${i}]`, route, delegate));
  spec.tcp?.forEach((route, i) => checkL4Route(issues, `spec.tcp[${i}]`, route, false));
  spec.tls?.forEach((route, i) => checkL4Route(issues, `spec.tls[${i}]`, route, true));
  return issues;
}

/** A `tcp[]` or `tls[]` route; a `tls` route needs match blocks, each with `sniHosts` (as Istio requires). */
function checkL4Route(issues: Issues, at: string, route: L4RouteSpec, tls: boolean): void {
  const matches: readonly L4MatchSpec[] = route.match ?? [];
  if (tls && matches.length === 0) issues.add(`${at}.match`, 'a tls route needs at least one match with sniHosts');
  matches.forEach((m, j) => {
    const mat = `${at}.match[${j}]`;
    checkPort(issues, `${mat}.port`, m.port);
    checkLabels(issues, `${mat}.sourceLabels`, m.sourceLabels);
    checkStringList(issues, `${mat}.gateways`, m.gateways);
    checkStringList(issues, `${mat}.destinationSubnets`, m.destinationSubnets);
    if ('sourceSubnet' in m && m.sourceSubnet !== undefined)
      issues.add(`${mat}.sourceSubnet`, 'not supported by Ambit: match the source by sourceLabels or sourceNamespace');
    if ('sniHosts' in m) {
      checkStringList(issues, `${mat}.sniHosts`, m.sniHosts, true);
      m.sniHosts.forEach((h, k) => checkHost(issues, `${mat}.sniHosts[${k}]`, h));
    }
  });
  checkDestinations(issues, `${at}.route`, route.route ?? [], true);
}

/** `inDelegate`: a route of a delegate VirtualService, which cannot delegate further. */
export function checkHttpRoute(issues: Issues, at: string, r: HttpRouteSpec, inDelegate = false): void {
  r.match?.forEach((m, j) => checkMatch(issues, `${at}.match[${j}]`, m));
  const hasRoute = r.route !== undefined && r.route.length > 0;
  if (r.redirect !== undefined && hasRoute) issues.add(`${at}.redirect`, 'cannot set both route and redirect');
  if (r.redirect !== undefined && r.directResponse !== undefined)
    issues.add(`${at}.directResponse`, 'cannot set both redirect and directResponse');
  if (!hasRoute && r.redirect === undefined && r.directResponse === undefined && r.delegate === undefined) {
    issues.add(`${at}.route`, 'a route, redirect or directResponse is required');
  }
  if (r.delegate !== undefined) checkDelegateRef(issues, at, r, inDelegate);
  if (r.directResponse !== undefined) {
    const status = r.directResponse.status;
    if (status < 200 || status > 599)
      issues.add(`${at}.directResponse.status`, `invalid HTTP status ${status} (200..599)`);
    if (hasRoute) issues.add(`${at}.directResponse`, 'cannot set both route and directResponse');
  }
  checkDestinations(issues, `${at}.route`, r.route ?? [], false);
  if (r.redirect !== undefined) checkRedirect(issues, `${at}.redirect`, r.redirect);
  if (r.rewrite !== undefined && r.redirect !== undefined)
    issues.add(`${at}.rewrite`, 'cannot set both rewrite and redirect');
  checkDuration(issues, `${at}.timeout`, r.timeout);
  if (r.retries !== undefined) checkRetries(issues, `${at}.retries`, r.retries);
  if (r.fault !== undefined) checkFault(issues, `${at}.fault`, r.fault);
  if (r.mirror !== undefined) checkDestination(issues, `${at}.mirror`, r.mirror);
  checkPercentage(issues, `${at}.mirrorPercentage`, r.mirrorPercentage);
  if (r.mirror_percent !== undefined && r.mirror_percent > 100)
    issues.add(`${at}.mirror_percent`, `percentage ${r.mirror_percent} must be between 0 and 100`);
  if (r.headers !== undefined) checkHeaders(issues, `${at}.headers`, r.headers);
  if (r.corsPolicy !== undefined) checkCorsPolicy(issues, `${at}.corsPolicy`, r.corsPolicy);
}

/** A root route that hands its traffic to a delegate VirtualService: it routes nothing itself. */
function checkDelegateRef(issues: Issues, at: string, r: HttpRouteSpec, inDelegate: boolean): void {
  if (inDelegate) issues.add(`${at}.delegate`, 'a delegate VirtualService cannot delegate again');
  if (!r.delegate?.name) issues.add(`${at}.delegate.name`, 'required field is missing');
  if (r.route !== undefined && r.route.length > 0)
    issues.add(`${at}.route`, 'a route with delegate must have no destinations (the delegate routes)');
  if (r.redirect !== undefined) issues.add(`${at}.redirect`, 'a route with delegate must not redirect');
}

function checkCorsPolicy(issues: Issues, at: string, c: CorsPolicySpec): void {
  c.allowOrigins?.forEach((m, i) => checkStringMatch(issues, `${at}.allowOrigins[${i}]`, m));
  for (const k of ['allowOrigin', 'allowMethods', 'allowHeaders', 'exposeHeaders'] as const)
    checkStringList(issues, `${at}.${k}`, c[k]);
  checkDuration(issues, `${at}.maxAge`, c.maxAge);
}

function checkMatch(issues: Issues, at: string, m: HttpMatchSpec): void {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const)
    if (m[k] !== undefined) checkStringMatch(issues, `${at}.${k}`, m[k]);
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    // `{}` (present, any value) is allowed; otherwise exactly one match type.
    for (const [name, sm] of Object.entries(m[k] ?? {}))
      if (Object.keys(sm).length > 0) checkStringMatch(issues, `${at}.${k}.${name}`, sm);
  }
  checkLabels(issues, `${at}.sourceLabels`, m.sourceLabels);
  checkPort(issues, `${at}.port`, m.port);
  checkStringList(issues, `${at}.gateways`, m.gateways);
}

export function checkDestination(issues: Issues, at: string, d: DestinationSpec): void {
  if (d.host === '*') issues.add(`${at}.host`, 'destination host * is not allowed (use a name or *.suffix)');
  else checkHost(issues, `${at}.host`, d.host);
  if (d.subset === '') issues.add(`${at}.subset`, 'must be a non-empty string');
  if (d.port !== undefined) checkPort(issues, `${at}.port.number`, d.port.number, true);
}

function checkDestinations(
  issues: Issues,
  at: string,
  list: readonly (Omit<HttpRouteDestinationSpec, 'headers'> & { readonly headers?: HeadersSpec })[],
  required: boolean,
): void {
  if (required && list.length === 0) issues.add(at, 'at least one destination is required');
  list.forEach((d, k) => {
    checkDestination(issues, `${at}[${k}].destination`, d.destination);
    // Weights need not sum to 100: as in Istio, each destination gets its share of the total.
    if (d.weight !== undefined && d.weight < 0)
      issues.add(`${at}[${k}].weight`, `weight ${d.weight} must be a non-negative integer`);
    if (d.headers !== undefined) checkHeaders(issues, `${at}[${k}].headers`, d.headers);
  });
  if (list.length > 1 && list.every((d) => d.weight === 0)) issues.add(at, 'total destination weight is 0');
}

function checkRedirect(issues: Issues, at: string, r: NonNullable<HttpRouteSpec['redirect']>): void {
  if (r.redirectCode !== undefined && (r.redirectCode < 300 || r.redirectCode > 399))
    issues.add(`${at}.redirectCode`, `redirect code ${r.redirectCode} must be 3xx`);
  if (r.port !== undefined) checkPort(issues, `${at}.port`, r.port);
  if (r.port !== undefined && r.derivePort !== undefined)
    issues.add(`${at}.derivePort`, 'only one of port and derivePort may be set');
  if (r.prefixRewrite !== undefined)
    issues.add(`${at}.prefixRewrite`, 'not supported by Ambit: redirect with uri (the whole path)');
  if (
    r.uri === undefined &&
    r.authority === undefined &&
    r.scheme === undefined &&
    r.port === undefined &&
    r.derivePort === undefined &&
    r.prefixRewrite === undefined
  ) {
    issues.add(at, 'redirect must specify uri, authority, scheme or port');
  }
}

function checkRetries(issues: Issues, at: string, r: NonNullable<HttpRouteSpec['retries']>): void {
  if (r.attempts !== undefined && r.attempts < 0)
    issues.add(`${at}.attempts`, 'attempts must be a non-negative integer');
  checkDuration(issues, `${at}.perTryTimeout`, r.perTryTimeout);
  checkDuration(issues, `${at}.backoff`, r.backoff);
  if (r.retryOn !== undefined)
    for (const cond of r.retryOn.split(',').map((s) => s.trim())) {
      if (!RETRY_ON.has(cond) && !/^[1-5]\d\d$/.test(cond))
        issues.add(`${at}.retryOn`, `unknown retry condition "${cond}"`);
    }
}

function checkFault(issues: Issues, at: string, f: NonNullable<HttpRouteSpec['fault']>): void {
  const { abort, delay } = f;
  if (abort === undefined && delay === undefined) issues.add(at, 'fault must specify abort or delay');
  if (abort !== undefined) {
    const kinds = (['httpStatus', 'grpcStatus', 'http2Error'] as const).filter((k) => abort[k] !== undefined);
    if (kinds.length === 0) issues.add(`${at}.abort.httpStatus`, 'required field is missing');
    else if (kinds.length > 1) issues.add(`${at}.abort`, `only one of ${kinds.join(', ')} may be set`);
    if (abort.httpStatus !== undefined && (abort.httpStatus < 200 || abort.httpStatus > 599))
      issues.add(`${at}.abort.httpStatus`, `invalid HTTP status ${abort.httpStatus} (200..599)`);
    checkPercentage(issues, `${at}.abort.percentage`, abort.percentage);
  }
  if (delay !== undefined) {
    // As in Istio, which accepts the field but does not implement it.
    if (delay.exponentialDelay !== undefined)
      issues.add(`${at}.delay.exponentialDelay`, 'exponentialDelay is not supported (use fixedDelay)');
    else if (delay.fixedDelay === undefined) issues.add(`${at}.delay.fixedDelay`, 'required field is missing');
    checkDuration(issues, `${at}.delay.fixedDelay`, delay.fixedDelay);
    checkPercentage(issues, `${at}.delay.percentage`, delay.percentage);
    if (delay.percent !== undefined && (delay.percent < 0 || delay.percent > 100))
      issues.add(`${at}.delay.percent`, `percentage ${delay.percent} must be between 0 and 100`);
  }
}

export function checkHeaders(issues: Issues, at: string, h: HeadersSpec): void {
  for (const side of ['request', 'response'] as const) checkStringList(issues, `${at}.${side}.remove`, h[side]?.remove);
}
