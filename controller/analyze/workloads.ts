// Selector analyzers: Sidecars that select the same workload (IST0110) or several without a
// selector in one namespace (IST0111), and policies whose selector matches no workload (IST0127).
import type { KubeObject } from '../sources/types.js';
import { AnalysisContext, labelText, nsOf, rec, specOf, stringMap } from './context.js';
import { MSG } from './messages.js';

function sidecarSelector(sc: KubeObject): Record<string, string> | undefined {
  const labels = rec(rec(specOf(sc).workloadSelector)?.labels);
  return labels && Object.keys(labels).length > 0 ? stringMap(labels) : undefined;
}

export function analyzeSidecars(ctx: AnalysisContext): void {
  const byNs = new Map<string, KubeObject[]>();
  for (const sc of ctx.of('Sidecar', 'networking.istio.io')) byNs.set(nsOf(sc), [...(byNs.get(nsOf(sc)) ?? []), sc]);
  for (const [ns, list] of byNs) {
    const global = list.filter((sc) => !sidecarSelector(sc));
    if (global.length > 1) {
      const names = global
        .map((s) => `${ns}/${s.metadata.name}`)
        .sort()
        .join(', ');
      for (const sc of global) {
        ctx.report(
          MSG.MultipleSidecarsWithoutWorkloadSelectors,
          sc,
          `The Sidecars [${names}] in namespace "${ns}" have no workload selector, ` +
            'which can lead to undefined behavior.',
        );
      }
    }
    const byWorkload = new Map<string, KubeObject[]>();
    for (const sc of list) {
      const sel = sidecarSelector(sc);
      if (!sel) continue;
      for (const w of ctx.workloads.filter(
        (x) => x.namespace === ns && Object.entries(sel).every(([k, v]) => x.labels[k] === v),
      )) {
        byWorkload.set(w.name, [...(byWorkload.get(w.name) ?? []), sc]);
      }
    }
    for (const [pod, scs] of byWorkload) {
      if (scs.length < 2) continue;
      const names = scs
        .map((s) => `${ns}/${s.metadata.name}`)
        .sort()
        .join(', ');
      for (const sc of scs) {
        ctx.report(
          MSG.ConflictingSidecarWorkloadSelectors,
          sc,
          `The Sidecars [${names}] in namespace "${ns}" select the same workload pod "${pod}", ` +
            'which can lead to undefined behavior.',
          'spec.workloadSelector',
        );
      }
    }
  }
}

/** Kinds whose selector picks workloads, with where the labels are. */
const SELECTING: readonly { kind: string; group: string; path: readonly string[] }[] = [
  { kind: 'AuthorizationPolicy', group: 'security.istio.io', path: ['selector', 'matchLabels'] },
  { kind: 'PeerAuthentication', group: 'security.istio.io', path: ['selector', 'matchLabels'] },
  { kind: 'RequestAuthentication', group: 'security.istio.io', path: ['selector', 'matchLabels'] },
  { kind: 'Sidecar', group: 'networking.istio.io', path: ['workloadSelector', 'labels'] },
  { kind: 'DestinationRule', group: 'networking.istio.io', path: ['workloadSelector', 'matchLabels'] },
  { kind: 'ServiceEntry', group: 'networking.istio.io', path: ['workloadSelector', 'labels'] },
];

export function analyzeSelectors(ctx: AnalysisContext): void {
  for (const { kind, group, path } of SELECTING) {
    for (const obj of ctx.of(kind, group)) {
      const labels = rec(rec(specOf(obj)[path[0]!])?.[path[1]!]);
      if (!labels || Object.keys(labels).length === 0) continue;
      const sel = stringMap(labels);
      if (ctx.selected(nsOf(obj), sel).length === 0) {
        ctx.report(
          MSG.NoMatchingWorkloadsFound,
          obj,
          `No matching workloads for this resource with the following labels: ${labelText(sel)}`,
          `spec.${path.join('.')}`,
        );
      }
    }
  }
}
