// Effective mutual-TLS mode of a workload port, per Istio's PeerAuthentication reference:
// the most specific policy wins — workload selector > namespace (no selector) > mesh (root
// namespace, no selector) > PERMISSIVE default. `portLevelMtls` of the selected workload
// policy overrides for that port. UNSET at any level inherits from the level above.
//
// Ambient note (istio.io "Use Layer 4 security policy" → "Peer authentication"): ztunnel
// always uses mTLS between meshed workloads, so DISABLE "policies will be ignored". Pass
// `{ ambient: true }` to get that behaviour (a DISABLE level then inherits like UNSET).
import type { MeshConfig, MtlsMode, PeerAuthentication, Workload } from '../model/types.js';
import { selectorMatches } from './engine.js';

export type EffectiveMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface EffectiveMtlsOptions {
  /** Ignore DISABLE (ztunnel's documented behaviour). Default false. */
  readonly ambient?: boolean;
}

function byKey(a: PeerAuthentication, b: PeerAuthentication): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function isSelectorPolicy(pa: PeerAuthentication): boolean {
  return pa.scope.level === 'workload' && pa.scope.selector !== undefined;
}

/** The mesh, namespace and workload policies that apply to a workload (each may be absent). */
export function peerAuthenticationsFor(
  pas: readonly PeerAuthentication[],
  mesh: MeshConfig,
  workload: Pick<Workload, 'namespace' | 'labels'>,
): { mesh?: PeerAuthentication; namespace?: PeerAuthentication; workload?: PeerAuthentication } {
  // Istio picks the oldest when several conflict; the model has no creation time, so the
  // first by key is used — deterministic, and a warning case in `ambitctl analyze`.
  const sorted = [...pas].sort(byKey);
  const meshPa = sorted.find((p) => !isSelectorPolicy(p) && p.scope.namespace === mesh.rootNamespace);
  const nsPa =
    workload.namespace === mesh.rootNamespace
      ? undefined
      : sorted.find((p) => !isSelectorPolicy(p) && p.scope.namespace === workload.namespace);
  // "PeerAuthentication policies with workload selectors are ignored when deployed in the
  // root namespace" (PeerAuthentication reference).
  const wlPa = sorted.find(
    (p) =>
      isSelectorPolicy(p) &&
      p.scope.namespace === workload.namespace &&
      p.scope.namespace !== mesh.rootNamespace &&
      selectorMatches(p.scope.selector, workload.labels),
  );
  return { mesh: meshPa, namespace: nsPa, workload: wlPa };
}

export function effectiveMtlsMode(
  pas: readonly PeerAuthentication[],
  mesh: MeshConfig,
  workload: Pick<Workload, 'namespace' | 'labels'>,
  port: number,
  opts: EffectiveMtlsOptions = {},
): EffectiveMtlsMode {
  const found = peerAuthenticationsFor(pas, mesh, workload);
  const inherit = (mode: MtlsMode | undefined, parent: EffectiveMtlsMode): EffectiveMtlsMode => {
    if (mode === undefined || mode === 'UNSET') return parent;
    if (mode === 'DISABLE' && opts.ambient) return parent;
    return mode;
  };
  let mode: EffectiveMtlsMode = 'PERMISSIVE';
  mode = inherit(found.mesh?.mode, mode);
  mode = inherit(found.namespace?.mode, mode);
  mode = inherit(found.workload?.mode, mode);
  const portLevel = found.workload?.portLevel;
  if (portLevel) mode = inherit(portLevel[port], mode);
  return mode;
}
