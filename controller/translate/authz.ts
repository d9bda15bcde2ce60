// AuthorizationPolicy → the model's AuthorizationPolicy, with its scope: mesh (root
// namespace, no selector), namespace, or workload (selector.matchLabels).
import { byKey, compact, rec, recs, str, strs, stringMap } from './raw.js';
import type { KubeObject } from '../sources/types.js';
import type {
  AuthorizationPolicy, AuthzCondition, AuthzOperation, AuthzRule, AuthzSource, PolicyAction, PolicyScope,
} from '../../core/model/types.js';

export function scopeOf(obj: KubeObject, rootNamespace: string, selectorField: 'selector' | 'workloadSelector' = 'selector', labelsKey = 'matchLabels'): PolicyScope {
  const ns = obj.metadata.namespace ?? 'default';
  const spec = rec(obj.spec);
  const selector = rec(rec(spec?.[selectorField])?.[labelsKey]);
  if (selector && Object.keys(selector).length > 0) return { namespace: ns, level: 'workload', selector: stringMap(selector) };
  const refs = [...recs(spec?.targetRefs), ...(rec(spec?.targetRef) ? [rec(spec?.targetRef) as Record<string, unknown>] : [])]
    .map((r) => compact({ kind: str(r.kind) ?? '', name: str(r.name) ?? '', namespace: str(r.namespace) }));
  if (refs.length > 0) return { namespace: ns, level: 'namespace', targetRefs: refs };
  return { namespace: ns, level: ns === rootNamespace ? 'mesh' : 'namespace' };
}

function listOrUndefined(value: unknown): readonly string[] | undefined {
  const list = strs(value);
  return Array.isArray(value) ? list : undefined;
}

const SOURCE_KEYS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const OPERATION_KEYS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

function pick<K extends string>(raw: Readonly<Record<string, unknown>>, keys: readonly K[]): Partial<Record<K, readonly string[]>> {
  const out: Partial<Record<K, readonly string[]>> = {};
  for (const k of keys) { const v = listOrUndefined(raw[k]); if (v) out[k] = v; }
  return out;
}

export function translateAuthorizationPolicy(obj: KubeObject, rootNamespace: string): AuthorizationPolicy {
  const spec = rec(obj.spec) ?? {};
  const ns = obj.metadata.namespace ?? 'default';
  const rules: AuthzRule[] = recs(spec.rules).map((rule) => {
    const from: AuthzSource[] | undefined = Array.isArray(rule.from) ? recs(rule.from).map((f) => pick(rec(f.source) ?? {}, SOURCE_KEYS)) : undefined;
    const to: AuthzOperation[] | undefined = Array.isArray(rule.to) ? recs(rule.to).map((t) => pick(rec(t.operation) ?? {}, OPERATION_KEYS)) : undefined;
    const when: AuthzCondition[] | undefined = Array.isArray(rule.when)
      ? recs(rule.when).map((w) => compact({ key: str(w.key) ?? '', values: listOrUndefined(w.values), notValues: listOrUndefined(w.notValues) }))
      : undefined;
    return compact({ from, to, when });
  });
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
