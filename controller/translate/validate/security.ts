// security.istio.io validation: AuthorizationPolicy, PeerAuthentication, RequestAuthentication.
import { arr, rec } from '../raw.js';
import {
  checkEnum,
  checkList,
  checkPort,
  checkRequiredString,
  checkSelector,
  checkStringList,
  Issues,
  specOf,
} from './common.js';
import { OPERATION_KEYS, SOURCE_KEYS } from '../authz.js';
import { checkObjectSchema } from './schema-check.js';
import type { KubeObject } from '../../sources/types.js';

const ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];
const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];
// Istio's source fields: those the translator carries, and those it reads into principals.
const SOURCE_FIELDS = [...SOURCE_KEYS, 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains'];
const OPERATION_FIELDS = OPERATION_KEYS;

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
export function checkPrincipal(issues: Issues, at: string, v: unknown): void {
  if (typeof v !== 'string' || v === '') return issues.add(at, 'principal must be a non-empty string');
  checkWildcard(issues, at, v);
}

/** `<namespace>/<service-account>`, as Istio's serviceAccounts field takes them. */
function checkServiceAccount(issues: Issues, at: string, v: unknown): void {
  if (typeof v !== 'string') return;
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

function checkCidr(issues: Issues, at: string, v: unknown): void {
  if (typeof v !== 'string') return issues.add(at, 'must be a string');
  const [ip, bits, ...rest] = v.split('/');
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip ?? '');
  const okIp = (v4 !== null && v4.slice(1).every((o) => Number(o) <= 255)) || (ip?.includes(':') ?? false);
  const maxBits = ip?.includes(':') ? 128 : 32;
  const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
  if (!okIp || !okBits || rest.length > 0) issues.add(at, `invalid IP or CIDR "${v}"`);
}

/** `targetRef` / `targetRefs` (Gateway API policy attachment): kind and name required; not with a selector. */
function checkTargetRefs(issues: Issues, spec: Readonly<Record<string, unknown>>): void {
  if (spec.targetRef !== undefined && spec.targetRefs !== undefined)
    issues.add('spec.targetRefs', 'only one of targetRef or targetRefs may be set');
  const refs =
    spec.targetRefs !== undefined
      ? checkList(issues, 'spec.targetRefs', spec.targetRefs).map((r, i) => ({ r, at: `spec.targetRefs[${i}]` }))
      : spec.targetRef !== undefined
        ? [{ r: spec.targetRef, at: 'spec.targetRef' }]
        : [];
  if (refs.length > 0 && spec.selector !== undefined)
    issues.add('spec.selector', 'selector and targetRef(s) cannot both be set');
  for (const { r, at } of refs) {
    const ref = rec(r);
    checkRequiredString(issues, `${at}.kind`, ref?.kind);
    checkRequiredString(issues, `${at}.name`, ref?.name);
    if (typeof ref?.kind === 'string' && !['Gateway', 'Service', 'ServiceEntry', 'GatewayClass'].includes(ref.kind))
      issues.add(`${at}.kind`, `unsupported target kind "${ref.kind}" (Gateway, Service, ServiceEntry, GatewayClass)`);
  }
}

export function validateAuthorizationPolicy(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues, false);
  checkSelector(issues, 'spec.selector', spec.selector);
  checkTargetRefs(issues, spec);
  checkEnum(issues, 'spec.action', spec.action, ACTIONS);
  const provider = rec(spec.provider);
  if (spec.action === 'CUSTOM' && !provider?.name)
    issues.add('spec.provider.name', 'CUSTOM action requires a provider name');
  if (spec.action !== 'CUSTOM' && spec.provider !== undefined)
    issues.add('spec.provider', 'provider is only allowed with action CUSTOM');
  if (spec.action === 'AUDIT' && spec.rules === undefined) issues.add('spec.rules', 'AUDIT action requires rules');
  checkList(issues, 'spec.rules', spec.rules).forEach((ruleValue, i) => {
    const at = `spec.rules[${i}]`;
    const rule = rec(ruleValue);
    if (!rule) return issues.add(at, 'must be a map');
    checkList(issues, `${at}.from`, rule.from).forEach((f, j) => {
      const source = rec(rec(f)?.source);
      if (!source) return issues.add(`${at}.from[${j}].source`, 'required field is missing');
      if (Object.keys(source).length === 0) issues.add(`${at}.from[${j}].source`, 'source must not be empty');
      for (const k of ['principals', 'namespaces']) {
        if (source.serviceAccounts !== undefined && source[k] !== undefined) {
          issues.add(`${at}.from[${j}].source.serviceAccounts`, `cannot be set with ${k}`);
        }
      }
      for (const k of ['serviceAccounts', 'notServiceAccounts']) {
        arr(source[k]).forEach((v, n) => checkServiceAccount(issues, `${at}.from[${j}].source.${k}[${n}]`, v));
      }
      for (const k of SOURCE_FIELDS) checkStringList(issues, `${at}.from[${j}].source.${k}`, source[k]);
      for (const k of ['principals', 'notPrincipals'])
        arr(source[k]).forEach((p, n) => checkPrincipal(issues, `${at}.from[${j}].source.${k}[${n}]`, p));
      for (const k of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'])
        arr(source[k]).forEach((c, n) => checkCidr(issues, `${at}.from[${j}].source.${k}[${n}]`, c));
      for (const k of ['requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces']) {
        arr(source[k]).forEach((v, n) => {
          if (typeof v === 'string') checkWildcard(issues, `${at}.from[${j}].source.${k}[${n}]`, v);
        });
      }
    });
    checkList(issues, `${at}.to`, rule.to).forEach((t, j) => {
      const op = rec(rec(t)?.operation);
      if (!op) return issues.add(`${at}.to[${j}].operation`, 'required field is missing');
      if (Object.keys(op).length === 0) issues.add(`${at}.to[${j}].operation`, 'operation must not be empty');
      for (const k of OPERATION_FIELDS) checkStringList(issues, `${at}.to[${j}].operation.${k}`, op[k]);
      for (const k of ['ports', 'notPorts'])
        arr(op[k]).forEach((p, n) => {
          if (typeof p !== 'string' || !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535)
            issues.add(
              `${at}.to[${j}].operation.${k}[${n}]`,
              `invalid port ${JSON.stringify(p)} (a string "1".."65535")`,
            );
        });
      for (const k of ['hosts', 'notHosts']) {
        arr(op[k]).forEach((v, n) => {
          if (typeof v === 'string') checkWildcard(issues, `${at}.to[${j}].operation.${k}[${n}]`, v);
        });
      }
      for (const k of ['paths', 'notPaths']) {
        arr(op[k]).forEach((v, n) => {
          if (typeof v === 'string') checkPath(issues, `${at}.to[${j}].operation.${k}[${n}]`, v);
        });
      }
    });
    checkList(issues, `${at}.when`, rule.when).forEach((w, j) => {
      const cond = rec(w);
      if (!cond) return issues.add(`${at}.when[${j}]`, 'must be a map');
      checkRequiredString(issues, `${at}.when[${j}].key`, cond.key);
      if (
        typeof cond.key === 'string' &&
        !/^(request\.(headers|auth\.claims)\[.+\]|request\.auth\.(principal|audiences|presenter)|source\.(ip|namespace|principal|trustDomain)|remote\.ip|destination\.(ip|port)|connection\.sni|experimental\.envoy\.filters\..+)$/.test(
          cond.key,
        )
      ) {
        issues.add(`${at}.when[${j}].key`, `unknown condition key "${cond.key}"`);
      }
      if (cond.values === undefined && cond.notValues === undefined)
        issues.add(`${at}.when[${j}]`, 'values or notValues is required');
      checkStringList(issues, `${at}.when[${j}].values`, cond.values);
      checkStringList(issues, `${at}.when[${j}].notValues`, cond.notValues);
    });
  });
  return issues;
}

export function validatePeerAuthentication(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues, false);
  checkSelector(issues, 'spec.selector', spec.selector);
  if (spec.mtls !== undefined) checkEnum(issues, 'spec.mtls.mode', rec(spec.mtls)?.mode, MTLS_MODES);
  if (spec.portLevelMtls !== undefined) {
    const ports = rec(spec.portLevelMtls);
    if (!ports) issues.add('spec.portLevelMtls', 'must be a map of port → {mode}');
    if (!rec(spec.selector)) issues.add('spec.portLevelMtls', 'portLevelMtls requires a workload selector');
    for (const [port, setting] of Object.entries(ports ?? {})) {
      checkPort(issues, `spec.portLevelMtls.${port}`, /^\d+$/.test(port) ? Number(port) : port, true);
      checkEnum(issues, `spec.portLevelMtls.${port}.mode`, rec(setting)?.mode, MTLS_MODES);
    }
  }
  return issues;
}

export function validateRequestAuthentication(obj: KubeObject): Issues {
  const issues = new Issues();
  checkObjectSchema(issues, obj);
  const spec = specOf(obj, issues, false);
  checkSelector(issues, 'spec.selector', spec.selector);
  checkTargetRefs(issues, spec);
  const issuers = new Set<string>();
  checkList(issues, 'spec.jwtRules', spec.jwtRules).forEach((r, i) => {
    const at = `spec.jwtRules[${i}]`;
    const rule = rec(r);
    if (!rule) return issues.add(at, 'must be a map');
    // Istio takes a rule with only jwksUri/jwks: the token's issuer is then not compared.
    if (rule.issuer !== undefined || (rule.jwksUri === undefined && rule.jwks === undefined)) {
      checkRequiredString(issues, `${at}.issuer`, rule.issuer);
    }
    if (typeof rule.issuer === 'string') {
      if (issuers.has(rule.issuer)) issues.add(`${at}.issuer`, `duplicate issuer "${rule.issuer}"`);
      issuers.add(rule.issuer);
    }
    if (rule.jwksUri !== undefined && rule.jwks !== undefined) issues.add(at, 'only one of jwksUri or jwks may be set');
    if (rule.jwksUri !== undefined) {
      if (typeof rule.jwksUri !== 'string' || !/^https?:\/\/[^\s/]+/.test(rule.jwksUri))
        issues.add(`${at}.jwksUri`, `invalid URL ${JSON.stringify(rule.jwksUri)}`);
    }
    if (rule.jwks !== undefined) {
      try {
        const doc: unknown = typeof rule.jwks === 'string' ? JSON.parse(rule.jwks) : undefined;
        if (!Array.isArray(rec(doc)?.keys))
          issues.add(`${at}.jwks`, 'jwks must be a JSON Web Key Set with a "keys" list');
      } catch {
        issues.add(`${at}.jwks`, 'jwks is not valid JSON');
      }
    }
    checkStringList(issues, `${at}.audiences`, rule.audiences);
    checkStringList(issues, `${at}.fromParams`, rule.fromParams);
    checkStringList(issues, `${at}.fromCookies`, rule.fromCookies);
    arr(rule.fromHeaders).forEach((h, j) => checkRequiredString(issues, `${at}.fromHeaders[${j}].name`, rec(h)?.name));
  });
  return issues;
}
