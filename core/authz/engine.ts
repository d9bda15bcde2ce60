// The one RBAC engine of Ambit, used by the agent (layer 'l4', per connection) and by the
// waypoint (layer 'l7', per request). Built once per config change from the mesh model;
// `evaluate` only runs precompiled predicates.
//
// Istio's documented order (Authorization Policy reference, "Authorization Policy"):
// CUSTOM first, then DENY, then ALLOW. AUDIT policies never decide; their matches are
// reported. No ALLOW policy for the workload → allow; ALLOW policies present and none
// matching → deny.
//
// CUSTOM: the engine cannot call an ext-authz server synchronously. It reports the providers
// of the matching CUSTOM policies in `custom`; the caller must ask each and deny when any
// denies. At L4 CUSTOM policies are skipped (ztunnel does not support the CUSTOM action).
import type { AuthorizationPolicy, Labels, MeshConfig, Workload } from '../model/types.js';
import { compilePolicy, type CompiledPolicy, type PolicyProblem } from './compile.js';
import { RequestView, type AuthzRequest } from './request-view.js';

export type { AuthzRequest } from './request-view.js';
export type { PolicyProblem } from './compile.js';
export { validateAuthorizationPolicy } from './compile.js';

export interface AuthzDecision {
  allowed: boolean;
  /** Key (`ns/name`) of the policy that decided, if one did. */
  policy?: string;
  reason: string;
  /** Keys of the AUDIT policies that matched. */
  audited: readonly string[];
  /** Providers of the CUSTOM policies that matched (L7 only); the caller must consult them. */
  custom?: readonly string[];
}

export type AuthzLayer = 'l4' | 'l7';
type WorkloadRef = Pick<Workload, 'namespace' | 'labels'>;

/** The policies that apply to one workload, split by action, in evaluation order. */
interface Selected {
  readonly custom: readonly CompiledPolicy[];
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly audit: readonly CompiledPolicy[];
}

const NONE: readonly string[] = Object.freeze([]);
const SELECTION_CACHE_MAX = 4096;

export class AuthzEngine {
  /** Problems found while compiling; the parts they affect fail closed. */
  readonly problems: readonly PolicyProblem[];
  private readonly compiled: readonly CompiledPolicy[];
  private readonly byObject = new WeakMap<object, Selected>();
  private readonly byKey = new Map<string, Selected>();
  private readonly selectionKeys = new WeakMap<Selected, string>();

  constructor(
    policies: readonly AuthorizationPolicy[],
    private readonly mesh: MeshConfig,
  ) {
    const problems: PolicyProblem[] = [];
    // Sorted by key so that the reported deciding policy does not depend on input order.
    this.compiled = [...policies]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((p) => compilePolicy(p, problems, mesh.trustDomain));
    this.problems = problems;
  }

  get size(): number {
    return this.compiled.length;
  }

  /** Keys of the policies that apply to a workload (for config dumps and tests). */
  policiesFor(workload: WorkloadRef): string[] {
    const s = this.select(workload);
    return [...s.custom, ...s.deny, ...s.allow, ...s.audit].map((p) => p.key);
  }

  /**
   * The same string for two workloads exactly when the same policies apply to both (so one
   * decision serves both; the waypoint groups a service's endpoints by it).
   */
  selectionKey(workload: WorkloadRef): string {
    const s = this.select(workload);
    let key = this.selectionKeys.get(s);
    if (key === undefined) {
      key = [...s.custom, ...s.deny, ...s.allow, ...s.audit].map((p) => p.key).join('\u0000');
      this.selectionKeys.set(s, key);
    }
    return key;
  }

  evaluate(workload: WorkloadRef, req: AuthzRequest, layer: AuthzLayer): AuthzDecision {
    const sel = this.select(workload);
    const view = new RequestView(req);
    // Without an HTTP request (agent, or TCP through a waypoint) only L4 forms apply.
    const l4 = layer === 'l4' || req.http === undefined;

    let audited: string[] | undefined;
    for (const p of sel.audit) {
      if (matches(p, view, l4)) (audited ??= []).push(p.key);
    }

    let custom: string[] | undefined;
    if (!l4) {
      for (const p of sel.custom) {
        if (!matches(p, view, false)) continue;
        const name = p.provider ?? p.key;
        if (!(custom ??= []).includes(name)) custom.push(name);
      }
    }
    const done = (allowed: boolean, reason: string, policy?: string): AuthzDecision => {
      const d: AuthzDecision = { allowed, reason, audited: audited ?? NONE };
      if (policy !== undefined) d.policy = policy;
      if (custom) d.custom = custom;
      return d;
    };

    for (const p of sel.deny) {
      if (matches(p, view, l4)) return done(false, p.decidedReason, p.key);
    }
    if (sel.allow.length === 0) return done(true, 'no ALLOW policy applies');
    for (const p of sel.allow) {
      if (matches(p, view, l4)) return done(true, p.decidedReason, p.key);
    }
    return done(false, 'no ALLOW policy matched');
  }

  private select(workload: WorkloadRef): Selected {
    const cached = this.byObject.get(workload);
    if (cached) return cached;
    const key = selectionKey(workload);
    let sel = this.byKey.get(key);
    if (!sel) {
      sel = this.computeSelection(workload);
      if (this.byKey.size >= SELECTION_CACHE_MAX) this.byKey.clear();
      this.byKey.set(key, sel);
    }
    this.byObject.set(workload, sel);
    return sel;
  }

  private computeSelection(workload: WorkloadRef): Selected {
    const custom: CompiledPolicy[] = [];
    const deny: CompiledPolicy[] = [];
    const allow: CompiledPolicy[] = [];
    const audit: CompiledPolicy[] = [];
    for (const p of this.compiled) {
      if (!appliesTo(p, workload, this.mesh.rootNamespace)) continue;
      ({ CUSTOM: custom, DENY: deny, ALLOW: allow, AUDIT: audit })[p.action].push(p);
    }
    return { custom, deny, allow, audit };
  }
}

function matches(p: CompiledPolicy, view: RequestView, l4: boolean): boolean {
  for (const r of p.rules) {
    const pred = l4 ? r.l4 : r.full;
    if (pred && pred(view)) return true;
  }
  return false;
}

/**
 * Root-namespace policies apply to every namespace (with a selector: to the matching
 * workloads of every namespace); other policies to their own namespace; a selector narrows
 * to workloads whose labels include every selector label.
 */
export function appliesTo(p: Pick<CompiledPolicy, 'scope'>, w: WorkloadRef, rootNamespace: string): boolean {
  const s = p.scope;
  const meshWide = s.level === 'mesh' || s.namespace === rootNamespace;
  if (!meshWide && s.namespace !== w.namespace) return false;
  if (s.level !== 'workload') return true;
  return selectorMatches(s.selector, w.labels);
}

export function selectorMatches(selector: Labels | undefined, labels: Labels): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

function selectionKey(w: WorkloadRef): string {
  const keys = Object.keys(w.labels).sort();
  let out = w.namespace;
  for (const k of keys) out += `\u0000${k}=${w.labels[k]}`;
  return out;
}
