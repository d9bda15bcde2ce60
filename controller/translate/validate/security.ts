// security.istio.io validation: AuthorizationPolicy, PeerAuthentication, RequestAuthentication.
// Types, enums, required and unknown fields were checked when the object was decoded
// (core/crds/decode.ts); these are Istio's value rules on the decoded spec.
import { checkPort, checkStringList, Issues } from './common.js';
import { SOURCE_KEYS } from '../authz.js';
import type { IstioObject } from '../decode-object.js';
import type {
  AuthorizationPolicySpec,
  PeerAuthenticationSpec,
  RequestAuthenticationSpec,
} from '../../../core/crds/types.js';

type Rule = NonNullable<AuthorizationPolicySpec['rules']>[number];
type Source = NonNullable<NonNullable<Rule['from']>[number]['source']>;
type Operation = NonNullable<NonNullable<Rule['to']>[number]['operation']>;
type Condition = NonNullable<Rule['when']>[number];
type JwtRule = NonNullable<RequestAuthenticationSpec['jwtRules']>[number];

// Istio's source fields: those the translator carries, and those it reads into principals.
const SOURCE_FIELDS = [
  ...SOURCE_KEYS,
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
] as const satisfies readonly (keyof Source)[];
const OPERATION_FIELDS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const satisfies readonly (keyof Operation)[];
const TARGET_KINDS = ['Gateway', 'Service', 'ServiceEntry', 'GatewayClass'];
const CONDITION_KEY =
  /^(request\.(headers|auth\.claims)\[.+\]|request\.auth\.(principal|audiences|presenter)|source\.(ip|namespace|principal|trustDomain)|remote\.ip|destination\.(ip|port)|connection\.sni|experimental\.envoy\.filters\..+)$/;

/** Istio wildcards: `*` alone, or only as a prefix or suffix. */
function checkWildcard(issues: Issues, at: string, v: string): boolean {
  const inner = v.slice(1, -1);
  if (v.length > 1 && inner.includes('*')) {
    issues.add(at, `"${v}": wildcard * is only allowed as a prefix or suffix`);
    return false;
  }
  return true;
}

/**
 * Principals are free-form strings compared with the peer's identity (`spiffe://` stripped);
 * only Istio's wildcard rule applies: `*` alone, as a prefix or as a suffix.
 */
export function checkPrincipal(issues: Issues, at: string, v: string): void {
  if (v === '') return issues.add(at, 'principal must be a non-empty string');
  checkWildcard(issues, at, v);
}

/** `<namespace>/<service-account>`, as Istio's serviceAccounts field takes them. */
function checkServiceAccount(issues: Issues, at: string, v: string): void {
  if (!/^[^/*\s]+\/[^/*\s]+$/.test(v)) issues.add(at, `"${v}" must be <namespace>/<service-account>`);
}

/** Paths: wildcards as elsewhere, or URI templates whose segments are `{*}`, `{**}` (last) or literal. */
function checkPath(issues: Issues, at: string, v: string): void {
  if (!v.includes('{')) return void checkWildcard(issues, at, v);
  const segments = v.split('/');
  segments.forEach((seg, i) => {
    if (seg === '{*}' || (seg === '{**}' && i === segments.length - 1)) return;
    if (seg === '{**}') return issues.add(at, `"${v}": {**} must be the last segment`);
    if (/[{}*]/.test(seg)) issues.add(at, `"${v}": a template segment must be {*}, {**} or literal text`);
  });
}

function checkCidr(issues: Issues, at: string, v: string): void {
  const [ip, bits, ...rest] = v.split('/');
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip ?? '');
  const okIp = (v4 !== null && v4.slice(1).every((o) => Number(o) <= 255)) || (ip?.includes(':') ?? false);
  const maxBits = ip?.includes(':') ? 128 : 32;
  const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
  if (!okIp || !okBits || rest.length > 0) issues.add(at, `invalid IP or CIDR "${v}"`);
}

function checkEach(
  issues: Issues,
  at: string,
  list: readonly string[] | undefined,
  check: (issues: Issues, at: string, v: string) => unknown,
): void {
  list?.forEach((v, n) => check(issues, `${at}[${n}]`, v));
}

/** Label keys of a selector (decode checked that the values are strings). */
function checkSelectorLabels(issues: Issues, at: string, labels: Readonly<Record<string, string>> | undefined): void {
  for (const k of Object.keys(labels ?? {}))
    if (k === '' || /\s/.test(k)) issues.add(`${at}.${k}`, 'invalid label key');
}

interface TargetRefHolder {
  readonly selector?: unknown;
  readonly targetRef?: { readonly kind: string; readonly name: string };
  readonly targetRefs?: readonly { readonly kind: string; readonly name: string }[];
}

/** `targetRef` / `targetRefs` (Gateway API policy attachment): not with a selector, kinds Istio attaches to. */
function checkTargetRefs(issues: Issues, spec: TargetRefHolder): void {
  if (spec.targetRef !== undefined && spec.targetRefs !== undefined)
    issues.add('spec.targetRefs', 'only one of targetRef or targetRefs may be set');
  const refs =
    spec.targetRefs !== undefined
      ? spec.targetRefs.map((r, i) => ({ r, at: `spec.targetRefs[${i}]` }))
      : spec.targetRef !== undefined
        ? [{ r: spec.targetRef, at: 'spec.targetRef' }]
        : [];
  if (refs.length > 0 && spec.selector !== undefined)
    issues.add('spec.selector', 'selector and targetRef(s) cannot both be set');
  for (const { r, at } of refs) {
    if (r.kind === '') issues.add(`${at}.kind`, 'required field is missing');
    if (r.name === '') issues.add(`${at}.name`, 'required field is missing');
    if (r.kind !== '' && !TARGET_KINDS.includes(r.kind))
      issues.add(`${at}.kind`, `unsupported target kind "${r.kind}" (Gateway, Service, ServiceEntry, GatewayClass)`);
  }
}

function checkSource(issues: Issues, at: string, source: Source | undefined): void {
  if (!source) return issues.add(`${at}.source`, 'required field is missing');
  const s = `${at}.source`;
  if (Object.keys(source).length === 0) issues.add(s, 'source must not be empty');
  for (const k of ['principals', 'namespaces'] as const) {
    if (source.serviceAccounts !== undefined && source[k] !== undefined)
      issues.add(`${s}.serviceAccounts`, `cannot be set with ${k}`);
  }
  for (const k of ['serviceAccounts', 'notServiceAccounts'] as const)
    checkEach(issues, `${s}.${k}`, source[k], checkServiceAccount);
  for (const k of SOURCE_FIELDS) checkStringList(issues, `${s}.${k}`, source[k]);
  for (const k of ['principals', 'notPrincipals'] as const) checkEach(issues, `${s}.${k}`, source[k], checkPrincipal);
  for (const k of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const)
    checkEach(issues, `${s}.${k}`, source[k], checkCidr);
  for (const k of ['requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces'] as const)
    checkEach(issues, `${s}.${k}`, source[k], checkWildcard);
}

function checkOperation(issues: Issues, at: string, op: Operation | undefined): void {
  if (!op) return issues.add(`${at}.operation`, 'required field is missing');
  const o = `${at}.operation`;
  if (Object.keys(op).length === 0) issues.add(o, 'operation must not be empty');
  for (const k of OPERATION_FIELDS) checkStringList(issues, `${o}.${k}`, op[k]);
  for (const k of ['ports', 'notPorts'] as const)
    checkEach(issues, `${o}.${k}`, op[k], (_, pat, p) => {
      if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535)
        issues.add(pat, `invalid port ${JSON.stringify(p)} (a string "1".."65535")`);
    });
  for (const k of ['hosts', 'notHosts'] as const) checkEach(issues, `${o}.${k}`, op[k], checkWildcard);
  for (const k of ['paths', 'notPaths'] as const) checkEach(issues, `${o}.${k}`, op[k], checkPath);
}

function checkCondition(issues: Issues, at: string, cond: Condition): void {
  if (cond.key === '') issues.add(`${at}.key`, 'required field is missing');
  else if (!CONDITION_KEY.test(cond.key)) issues.add(`${at}.key`, `unknown condition key "${cond.key}"`);
  if (cond.values === undefined && cond.notValues === undefined) issues.add(at, 'values or notValues is required');
  checkStringList(issues, `${at}.values`, cond.values);
  checkStringList(issues, `${at}.notValues`, cond.notValues);
}

export function validateAuthorizationPolicy(obj: IstioObject<AuthorizationPolicySpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkSelectorLabels(issues, 'spec.selector.matchLabels', spec.selector?.matchLabels);
  checkTargetRefs(issues, spec);
  if (spec.action === 'CUSTOM' && !spec.provider?.name)
    issues.add('spec.provider.name', 'CUSTOM action requires a provider name');
  if (spec.action !== 'CUSTOM' && spec.provider !== undefined)
    issues.add('spec.provider', 'provider is only allowed with action CUSTOM');
  if (spec.action === 'AUDIT' && spec.rules === undefined) issues.add('spec.rules', 'AUDIT action requires rules');
  spec.rules?.forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    rule.from?.forEach((f, j) => checkSource(issues, `${at}.from[${j}]`, f.source));
    rule.to?.forEach((t, j) => checkOperation(issues, `${at}.to[${j}]`, t.operation));
    rule.when?.forEach((w, j) => checkCondition(issues, `${at}.when[${j}]`, w));
  });
  return issues;
}

export function validatePeerAuthentication(obj: IstioObject<PeerAuthenticationSpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkSelectorLabels(issues, 'spec.selector.matchLabels', spec.selector?.matchLabels);
  if (spec.portLevelMtls !== undefined) {
    if (!spec.selector) issues.add('spec.portLevelMtls', 'portLevelMtls requires a workload selector');
    for (const port of Object.keys(spec.portLevelMtls))
      checkPort(issues, `spec.portLevelMtls.${port}`, /^\d+$/.test(port) ? Number(port) : port, true);
  }
  return issues;
}

function checkJwks(issues: Issues, at: string, jwks: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(jwks);
  } catch {
    return issues.add(`${at}.jwks`, 'jwks is not valid JSON');
  }
  const keys = doc !== null && typeof doc === 'object' && 'keys' in doc ? doc.keys : undefined;
  if (!Array.isArray(keys)) issues.add(`${at}.jwks`, 'jwks must be a JSON Web Key Set with a "keys" list');
}

function checkJwtRule(issues: Issues, at: string, rule: JwtRule, issuers: Set<string>): void {
  const jwksUri = rule.jwksUri ?? rule.jwks_uri;
  const uriField = rule.jwksUri !== undefined ? 'jwksUri' : 'jwks_uri';
  if (rule.jwksUri !== undefined && rule.jwks_uri !== undefined)
    issues.add(`${at}.jwks_uri`, 'only one of jwksUri or jwks_uri may be set');
  // Istio takes a rule with only jwksUri/jwks: the token's issuer is then not compared.
  if (rule.issuer === '' || (rule.issuer === undefined && jwksUri === undefined && rule.jwks === undefined))
    issues.add(`${at}.issuer`, 'required field is missing');
  if (rule.issuer !== undefined && rule.issuer !== '') {
    if (issuers.has(rule.issuer)) issues.add(`${at}.issuer`, `duplicate issuer "${rule.issuer}"`);
    issuers.add(rule.issuer);
  }
  if (jwksUri !== undefined && rule.jwks !== undefined) issues.add(at, 'only one of jwksUri or jwks may be set');
  if (jwksUri !== undefined && !/^https?:\/\/[^\s/]+/.test(jwksUri))
    issues.add(`${at}.${uriField}`, `invalid URL ${JSON.stringify(jwksUri)}`);
  if (rule.jwks !== undefined) checkJwks(issues, at, rule.jwks);
  checkStringList(issues, `${at}.audiences`, rule.audiences);
  checkStringList(issues, `${at}.fromParams`, rule.fromParams);
  checkStringList(issues, `${at}.fromCookies`, rule.fromCookies);
  rule.fromHeaders?.forEach((h, j) => {
    if (h.name === '') issues.add(`${at}.fromHeaders[${j}].name`, 'required field is missing');
  });
}

export function validateRequestAuthentication(obj: IstioObject<RequestAuthenticationSpec>): Issues {
  const issues = new Issues();
  const { spec } = obj;
  checkSelectorLabels(issues, 'spec.selector.matchLabels', spec.selector?.matchLabels);
  checkTargetRefs(issues, spec);
  const issuers = new Set<string>();
  spec.jwtRules?.forEach((r, i) => checkJwtRule(issues, `spec.jwtRules[${i}]`, r, issuers));
  return issues;
}
