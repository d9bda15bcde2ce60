// AuthorizationPolicy → the model's AuthorizationPolicy, with its scope: mesh (root
// namespace, no selector), namespace, or workload (selector.matchLabels).
import { byKey, compact } from './collections.js';
import type { IstioObject } from './decode-object.js';
import type { AuthorizationPolicySpec } from '../../core/crds/types.js';
import type {
  AuthorizationPolicy,
  AuthzCondition,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
  PolicyScope,
} from '../../core/model/types.js';

type Labels = Readonly<Record<string, string>>;
interface TargetRef {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** The fields that scope a policy, as the decoded specs of the kinds that have them carry them. */
export interface ScopeSpec {
  readonly selector?: { readonly matchLabels?: Labels };
  readonly workloadSelector?: { readonly labels?: Labels; readonly matchLabels?: Labels };
  readonly targetRef?: TargetRef;
  readonly targetRefs?: readonly TargetRef[];
}

export function scopeOf(
  obj: IstioObject<ScopeSpec>,
  rootNamespace: string,
  selectorField: 'selector' | 'workloadSelector' = 'selector',
  labelsKey: 'matchLabels' | 'labels' = 'matchLabels',
): PolicyScope {
  const ns = obj.metadata.namespace ?? 'default';
  const { spec } = obj;
  const holder: { readonly labels?: Labels; readonly matchLabels?: Labels } | undefined =
    selectorField === 'selector' ? spec.selector : spec.workloadSelector;
  const selector = holder?.[labelsKey];
  if (selector && Object.keys(selector).length > 0) return { namespace: ns, level: 'workload', selector };
  const refs = [...(spec.targetRefs ?? []), ...(spec.targetRef ? [spec.targetRef] : [])].map((r) =>
    compact({ kind: r.kind, name: r.name, namespace: r.namespace }),
  );
  if (refs.length > 0) return { namespace: ns, level: 'namespace', targetRefs: refs };
  return { namespace: ns, level: ns === rootNamespace ? 'mesh' : 'namespace' };
}

type Rule = NonNullable<AuthorizationPolicySpec['rules']>[number];
type Source = NonNullable<NonNullable<Rule['from']>[number]['source']>;
type Operation = NonNullable<NonNullable<Rule['to']>[number]['operation']>;
type Condition = NonNullable<Rule['when']>[number];

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
  fields: Readonly<Partial<Record<K, readonly string[]>>>,
  keys: readonly K[],
): Partial<Record<K, readonly string[]>> {
  const out: Partial<Record<K, readonly string[]>> = {};
  for (const k of keys) if (fields[k] !== undefined) out[k] = fields[k];
  return out;
}

const trustDomainPatterns = (tds: readonly string[] | undefined): readonly string[] | undefined =>
  tds?.map((td) => `${td}/*`);

/**
 * One `from[].source`: serviceAccounts (`ns/sa`, never with principals) become principal
 * suffixes of any trust domain; trustDomains become conditions on source.principal (returned
 * apart, since they AND with the principals of the same source).
 */
function translateSource(from: Source): {
  source: AuthzSource;
  conditions: AuthzCondition[];
} {
  const source: { -readonly [K in (typeof SOURCE_KEYS)[number]]?: readonly string[] } = pick(from, SOURCE_KEYS);
  const accounts = (list: readonly string[]): string[] => list.map((a) => `*/ns/${a.replace('/', '/sa/')}`);
  if (from.serviceAccounts) source.principals = accounts(from.serviceAccounts);
  if (from.notServiceAccounts)
    source.notPrincipals = [...(source.notPrincipals ?? []), ...accounts(from.notServiceAccounts)];
  const values = trustDomainPatterns(from.trustDomains);
  const notValues = trustDomainPatterns(from.notTrustDomains);
  const conditions = values || notValues ? [compact({ key: 'source.principal', values, notValues })] : [];
  return { source: compact(source), conditions };
}

/** `source.trustDomain` is the trust domain part of source.principal. */
function translateCondition(w: Condition): AuthzCondition {
  if (w.key === 'source.trustDomain') {
    return compact({
      key: 'source.principal',
      values: trustDomainPatterns(w.values),
      notValues: trustDomainPatterns(w.notValues),
    });
  }
  return compact({ key: w.key, values: w.values, notValues: w.notValues });
}

function translateRule(rule: Rule): AuthzRule[] {
  const to: AuthzOperation[] | undefined = rule.to?.map((t) =>
    pick<keyof Operation>(t.operation ?? {}, OPERATION_KEYS),
  );
  const when: AuthzCondition[] | undefined = rule.when?.map(translateCondition);
  if (!rule.from) return [compact({ to, when })];
  const sources = rule.from.map((f) => translateSource(f.source ?? {}));
  if (sources.every((s) => s.conditions.length === 0))
    return [compact({ from: sources.map((s) => s.source), to, when })];
  // Sources are alternatives: one rule per source carries that source's trust-domain conditions.
  return sources.map((s) => {
    const all = [...(when ?? []), ...s.conditions];
    return compact({ from: [s.source], to, when: all.length > 0 ? all : undefined });
  });
}

export function translateAuthorizationPolicy(
  obj: IstioObject<AuthorizationPolicySpec>,
  rootNamespace: string,
): AuthorizationPolicy {
  const { spec } = obj;
  const ns = obj.metadata.namespace ?? 'default';
  return compact({
    key: `${ns}/${obj.metadata.name}`,
    name: obj.metadata.name,
    scope: scopeOf(obj, rootNamespace),
    action: spec.action ?? 'ALLOW',
    provider: spec.provider?.name,
    rules: (spec.rules ?? []).flatMap(translateRule),
  });
}

export function buildAuthorizationPolicies(
  objs: readonly IstioObject<AuthorizationPolicySpec>[],
  rootNamespace: string,
): AuthorizationPolicy[] {
  return objs.map((o) => translateAuthorizationPolicy(o, rootNamespace)).sort(byKey((p) => p.key));
}
