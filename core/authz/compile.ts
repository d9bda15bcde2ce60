// AuthorizationPolicy → precompiled predicates, once per config change. Each rule gets two
// forms: the full one (waypoint, HTTP) and the L4 one (agent, or any non-HTTP traffic).
//
// L4 form, per istio.io "Use Layer 4 security policy" → "Policies with Layer 7 conditions"
// (ztunnel cannot enforce L7 attributes; such a policy "will fail safe"), and the status
// istiod attaches to those policies: "Within an ALLOW policy, rules matching HTTP attributes
// are omitted" / "DENY policy with HTTP attributes is enforced without the HTTP rules. This
// will be more restrictive than requested." So at L4 an ALLOW (or AUDIT) rule that uses any
// HTTP attribute never matches, and a DENY rule drops its HTTP parts and so matches more.
//
// Bad values (unparseable CIDR or port, unknown `when` key) are reported as problems and fail
// closed the same way: the part never matches in ALLOW/AUDIT, always matches in DENY/CUSTOM.
import type {
  AuthorizationPolicy,
  AuthzCondition,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
  PolicyAction,
  PolicyScope,
} from '../model/types.js';
import { compileCondition, L4_CONDITION_KEYS, parsePort, type Predicate } from './conditions.js';
import { anyCidrContains, parseCidr } from './ip-match.js';
import { stripSpiffe, type RequestView } from './request-view.js';
import { compileHostList, compilePathList, compileStringList, type ValueMatcher } from './string-match.js';

export interface PolicyProblem {
  /** `AuthorizationPolicy/<ns>/<name>` */
  readonly policy: string;
  /** e.g. `rules[0].from[1].source.ipBlocks` */
  readonly field: string;
  readonly reason: string;
}

export interface CompiledRule {
  readonly full: Predicate;
  /** undefined: never matches at L4. */
  readonly l4: Predicate | undefined;
}

export interface CompiledPolicy {
  readonly key: string;
  readonly name: string;
  readonly action: PolicyAction;
  readonly provider: string | undefined;
  readonly scope: PolicyScope;
  readonly rules: readonly CompiledRule[];
  /** Precomputed decision reason when this policy decides. */
  readonly decidedReason: string;
}

interface Part {
  readonly pred: Predicate;
  readonly http: boolean;
}

const ALWAYS: Predicate = () => true;

/**
 * Principals as written, without `spiffe://`; one whose trust domain is `cluster.local` also
 * gets the mesh's trust domain: Istio treats `cluster.local` in policies as "a pointer to the
 * local trust domain" (its trust-domain bundle, used for trust domain migration).
 */
export function expandPrincipals(values: readonly string[], trustDomain: string): string[] {
  const out: string[] = [];
  for (const raw of values) {
    const v = stripSpiffe(raw);
    out.push(v);
    if (trustDomain !== 'cluster.local' && v.startsWith('cluster.local/'))
      out.push(trustDomain + v.slice('cluster.local'.length));
  }
  return out;
}

class RuleCompiler {
  constructor(
    private readonly policy: AuthorizationPolicy,
    private readonly problems: PolicyProblem[],
    private readonly trustDomain: string,
  ) {}

  /** Fail-closed value for a part that could not be compiled. */
  private get failValue(): boolean {
    return this.policy.action === 'DENY' || this.policy.action === 'CUSTOM';
  }

  private guard(field: string, http: boolean, build: () => Predicate): Part {
    try {
      return { pred: build(), http };
    } catch (err) {
      this.problems.push({ policy: `AuthorizationPolicy/${this.policy.key}`, field, reason: (err as Error).message });
      const v = this.failValue;
      return { pred: () => v, http };
    }
  }

  private list(
    parts: Part[],
    field: string,
    values: readonly string[] | undefined,
    negate: boolean,
    http: boolean,
    compile: (values: readonly string[]) => Predicate,
  ): void {
    if (!values || values.length === 0) return;
    parts.push(
      this.guard(field, http, () => {
        const p = compile(values);
        return negate ? (v) => !p(v) : p;
      }),
    );
  }

  private strings(get: (v: RequestView) => string | undefined, m: ValueMatcher): Predicate {
    return (v) => m(get(v));
  }

  source(s: AuthzSource, path: string): Part[] {
    const parts: Part[] = [];
    const principals = (vals: readonly string[]) =>
      this.strings((v) => v.principal, compileStringList(expandPrincipals(vals, this.trustDomain)));
    const requestPrincipals = (vals: readonly string[]) =>
      this.strings((v) => v.req.http?.requestPrincipal, compileStringList(vals));
    const namespaces = (vals: readonly string[]) => this.strings((v) => v.namespace, compileStringList(vals));
    const ipBlocks = (vals: readonly string[]) => {
      const blocks = vals.map(parseCidr);
      return (v: RequestView) => anyCidrContains(blocks, v.sourceIp);
    };
    const remoteIpBlocks = (vals: readonly string[]) => {
      const blocks = vals.map(parseCidr);
      return (v: RequestView) => anyCidrContains(blocks, v.remoteIp);
    };
    this.list(parts, `${path}.principals`, s.principals, false, false, principals);
    this.list(parts, `${path}.notPrincipals`, s.notPrincipals, true, false, principals);
    this.list(parts, `${path}.requestPrincipals`, s.requestPrincipals, false, true, requestPrincipals);
    this.list(parts, `${path}.notRequestPrincipals`, s.notRequestPrincipals, true, true, requestPrincipals);
    this.list(parts, `${path}.namespaces`, s.namespaces, false, false, namespaces);
    this.list(parts, `${path}.notNamespaces`, s.notNamespaces, true, false, namespaces);
    this.list(parts, `${path}.ipBlocks`, s.ipBlocks, false, false, ipBlocks);
    this.list(parts, `${path}.notIpBlocks`, s.notIpBlocks, true, false, ipBlocks);
    this.list(parts, `${path}.remoteIpBlocks`, s.remoteIpBlocks, false, true, remoteIpBlocks);
    this.list(parts, `${path}.notRemoteIpBlocks`, s.notRemoteIpBlocks, true, true, remoteIpBlocks);
    return parts;
  }

  operation(o: AuthzOperation, path: string): Part[] {
    const parts: Part[] = [];
    const hosts = (vals: readonly string[]) => this.strings((v) => v.req.http?.host, compileHostList(vals));
    const ports = (vals: readonly string[]) => {
      const set = new Set(vals.map(parsePort));
      return (v: RequestView) => set.has(v.req.destination.port);
    };
    const methods = (vals: readonly string[]) => this.strings((v) => v.req.http?.method, compileStringList(vals));
    const paths = (vals: readonly string[]) => this.strings((v) => v.req.http?.path, compilePathList(vals));
    this.list(parts, `${path}.hosts`, o.hosts, false, true, hosts);
    this.list(parts, `${path}.notHosts`, o.notHosts, true, true, hosts);
    this.list(parts, `${path}.ports`, o.ports, false, false, ports);
    this.list(parts, `${path}.notPorts`, o.notPorts, true, false, ports);
    this.list(parts, `${path}.methods`, o.methods, false, true, methods);
    this.list(parts, `${path}.notMethods`, o.notMethods, true, true, methods);
    this.list(parts, `${path}.paths`, o.paths, false, true, paths);
    this.list(parts, `${path}.notPaths`, o.notPaths, true, true, paths);
    return parts;
  }

  condition(c: AuthzCondition, path: string): Part {
    return this.guard(`${path}.key`, !L4_CONDITION_KEYS.has(c.key), () =>
      compileCondition(c, (vals) => expandPrincipals(vals, this.trustDomain)),
    );
  }

  rule(r: AuthzRule, index: number): CompiledRule {
    const base = `rules[${index}]`;
    const from = (r.from ?? []).map((s, i) => this.source(s, `${base}.from[${i}].source`));
    const to = (r.to ?? []).map((o, i) => this.operation(o, `${base}.to[${i}].operation`));
    const when = (r.when ?? []).map((c, i) => this.condition(c, `${base}.when[${i}]`));
    const usesHttp = [...from.flat(), ...to.flat(), ...when].some((p) => p.http);

    const build = (dropHttp: boolean): Predicate => {
      const keep = (parts: Part[]) => (dropHttp ? parts.filter((p) => !p.http) : parts);
      const fromP = anyOf(from.map((parts) => allOf(keep(parts).map((p) => p.pred))));
      const toP = anyOf(to.map((parts) => allOf(keep(parts).map((p) => p.pred))));
      const whenP = allOf(keep(when).map((p) => p.pred));
      return allOf([fromP, toP, whenP].filter((p) => p !== ALWAYS));
    };
    const full = build(false);
    let l4: Predicate | undefined = full;
    if (usesHttp) {
      const action = this.policy.action;
      l4 = action === 'DENY' ? build(true) : undefined;
    }
    return { full, l4 };
  }
}

/** OR over a list; an empty list (field absent) matches everything. */
function anyOf(preds: Predicate[]): Predicate {
  if (preds.length === 0) return ALWAYS;
  if (preds.length === 1) return preds[0]!;
  return (v) => {
    for (const p of preds) if (p(v)) return true;
    return false;
  };
}

/** AND over a list; empty matches everything. */
function allOf(preds: Predicate[]): Predicate {
  const ps = preds.filter((p) => p !== ALWAYS);
  if (ps.length === 0) return ALWAYS;
  if (ps.length === 1) return ps[0]!;
  if (ps.length === 2) {
    const [a, b] = ps as [Predicate, Predicate];
    return (v) => a(v) && b(v);
  }
  return (v) => {
    for (const p of ps) if (!p(v)) return false;
    return true;
  };
}

/**
 * Compile one policy. Istio semantics kept here: a policy without rules matches nothing
 * (an ALLOW without rules is allow-nothing, a DENY without rules denies nothing), while an
 * empty rule `{}` matches everything.
 */
export function compilePolicy(
  policy: AuthorizationPolicy,
  problems: PolicyProblem[],
  trustDomain = 'cluster.local',
): CompiledPolicy {
  const c = new RuleCompiler(policy, problems, trustDomain);
  if (policy.action === 'CUSTOM' && !policy.provider) {
    problems.push({
      policy: `AuthorizationPolicy/${policy.key}`,
      field: 'provider.name',
      reason: 'CUSTOM action needs a provider',
    });
  }
  return {
    key: policy.key,
    name: policy.name,
    action: policy.action,
    provider: policy.provider,
    scope: policy.scope,
    rules: policy.rules.map((r, i) => c.rule(r, i)),
    decidedReason: `${policy.action === 'DENY' ? 'denied by DENY' : `allowed by ${policy.action}`} policy ${policy.key}`,
  };
}

/** Problems a policy would have at compile time (for `ambitctl analyze` and the translator). */
export function validateAuthorizationPolicy(policy: AuthorizationPolicy): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  compilePolicy(policy, problems, 'cluster.local');
  return problems;
}
