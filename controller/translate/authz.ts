// AuthorizationPolicy → the model's AuthorizationPolicy, with its scope: mesh (root
// namespace, no selector), namespace, or workload (selector.matchLabels).
import { byKey, compact, rec, recs, str, strs, stringMap } from './raw.js';
import type { KubeObject } from '../sources/types.js';
import type {
  AuthorizationPolicy,
  AuthzCondition,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
  PolicyAction,
  PolicyScope,
} from '../../core/model/types.js';

export function scopeOf(
  obj: KubeObject,
  rootNamespace: string,
  selectorField: 'selector' | 'workloadSelector' = 'selector',
  labelsKey = 'matchLabels',
): PolicyScope {
  const ns = obj.metadata.namespace ?? 'default';
  const spec = rec(obj.spec);
  const selector = rec(rec(spec?.[selectorField])?.[labelsKey]);
  if (selector && Object.keys(selector).length > 0)
    return { namespace: ns, level: 'workload', selector: stringMap(selector) };
  const refs = [
    ...recs(spec?.targetRefs),
    ...(rec(spec?.targetRef) ? [rec(spec?.targetRef) as Record<string, unknown>] : []),
  ].map((r) => compact({ kind: str(r.kind) ?? '', name: str(r.name) ?? '', namespace: str(r.namespace) }));
  if (refs.length > 0) return { namespace: ns, level: 'namespace', targetRefs: refs };
  return { namespace: ns, level: ns === rootNamespace ? 'mesh' : 'namespace' };
}

function listOrUndefined(value: unknown): readonly string[] | undefined {
  const list = strs(value);
  return Array.isArray(value) ? list : undefined;
}

/** The AuthorizationPolicy `source` fields translated into the model (the validator checks these and more). */
export const SOURCE_KEYS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
] as const;
/** The AuthorizationPolicy `operation` fields. */
export const OPERATION_KEYS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const;

function pick<K extends string>(
  raw: Readonly<Record<string, unknown>>,
  keys: readonly K[],
): Partial<Record<K, readonly string[]>> {
  const out: Partial<Record<K, readonly string[]>> = {};
  for (const k of keys) {
    const v = listOrUndefined(raw[k]);
    if (v) out[k] = v;
  }
  return out;
}

const trustDomainPatterns = (tds: readonly string[] | undefined): readonly string[] | undefined =>
  tds?.map((td) => `${td}/*`);

/**
 * One `from[].source`: serviceAccounts (`ns/sa`, never with principals) become principal
 * suffixes of any trust domain; trustDomains become conditions on source.principal (returned
 * apart, since they AND with the principals of the same source).
 */
function translateSource(raw: Readonly<Record<string, unknown>>): {
  source: AuthzSource;
  conditions: AuthzCondition[];
} {
  const source: Record<string, readonly string[] | undefined> = pick(raw, SOURCE_KEYS);
  const accounts = (key: string): string[] => strs(raw[key]).map((a) => `*/ns/${a.replace('/', '/sa/')}`);
  if (Array.isArray(raw.serviceAccounts)) source.principals = accounts('serviceAccounts');
  if (Array.isArray(raw.notServiceAccounts))
    source.notPrincipals = [...(source.notPrincipals ?? []), ...accounts('notServiceAccounts')];
  const values = trustDomainPatterns(listOrUndefined(raw.trustDomains));
  const notValues = trustDomainPatterns(listOrUndefined(raw.notTrustDomains));
  const conditions = values || notValues ? [compact({ key: 'source.principal', values, notValues })] : [];
  return { source: compact(source) as AuthzSource, conditions };
}

/** `source.trustDomain` is the trust domain part of source.principal. */
function translateCondition(w: Readonly<Record<string, unknown>>): AuthzCondition {
  const key = str(w.key) ?? '';
  if (key === 'source.trustDomain') {
    return compact({
      key: 'source.principal',
      values: trustDomainPatterns(listOrUndefined(w.values)),
      notValues: trustDomainPatterns(listOrUndefined(w.notValues)),
    });
  }
  return compact({ key, values: listOrUndefined(w.values), notValues: listOrUndefined(w.notValues) });
}

function translateRule(rule: Readonly<Record<string, unknown>>): AuthzRule[] {
  const to: AuthzOperation[] | undefined = Array.isArray(rule.to)
    ? recs(rule.to).map((t) => pick(rec(t.operation) ?? {}, OPERATION_KEYS))
    : undefined;
  const when: AuthzCondition[] | undefined = Array.isArray(rule.when)
    ? recs(rule.when).map(translateCondition)
    : undefined;
  if (!Array.isArray(rule.from)) return [compact({ to, when })];
  const sources = recs(rule.from).map((f) => translateSource(rec(f.source) ?? {}));
  if (sources.every((s) => s.conditions.length === 0))
    return [compact({ from: sources.map((s) => s.source), to, when })];
  // Sources are alternatives: one rule per source carries that source's trust-domain conditions.
  return sources.map((s) => {
    const all = [...(when ?? []), ...s.conditions];
    return compact({ from: [s.source], to, when: all.length > 0 ? all : undefined });
  });
}

export function translateAuthorizationPolicy(obj: KubeObject, rootNamespace: string): AuthorizationPolicy {
  const spec = rec(obj.spec) ?? {};
  const ns = obj.metadata.namespace ?? 'default';
  const rules: AuthzRule[] = recs(spec.rules).flatMap(translateRule);
  return compact({
    key: `${ns}/${obj.metadata.name}`,
    name: obj.metadata.name,
    scope: scopeOf(obj, rootNamespace),
    action: (str(spec.action) ?? 'ALLOW') as PolicyAction,
    provider: str(rec(spec.provider)?.name),
    rules,
  });
}

export function buildAuthorizationPolicies(objs: readonly KubeObject[], rootNamespace: string): AuthorizationPolicy[] {
  return objs.map((o) => translateAuthorizationPolicy(o, rootNamespace)).sort(byKey((p) => p.key));
}
