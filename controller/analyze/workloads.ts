// Selector analyzers: Sidecars that select the same workload (IST0110) or several without a
// selector in one namespace (IST0111), and policies whose selector matches no workload (IST0127).
import type { KubeObject } from '../sources/types.js';
import type { IstioObject } from '../translate/decode-object.js';
import * as net from '../../core/crds/networking.js';
import * as sec from '../../core/crds/security.js';
import type { Schema } from '../../core/crds/schema.js';
import type { SidecarSpec } from '../../core/crds/types.js';
import { AnalysisContext, labelText, nsOf } from './context.js';
import { MSG } from './messages.js';

type Labels = Readonly<Record<string, string>>;
type Sidecar = IstioObject<SidecarSpec>;

function sidecarSelector(sc: Sidecar): Labels | undefined {
  const labels = sc.spec.workloadSelector?.labels;
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

export function analyzeSidecars(ctx: AnalysisContext): void {
  const byNs = new Map<string, Sidecar[]>();
  for (const sc of ctx.istio('Sidecar', 'networking.istio.io', net.sidecar))
    byNs.set(nsOf(sc), [...(byNs.get(nsOf(sc)) ?? []), sc]);
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
    const byWorkload = new Map<string, Sidecar[]>();
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

/** An object whose selector picks workloads: its labels and the field they are in. */
interface Selecting {
  readonly obj: KubeObject;
  readonly labels: Labels | undefined;
  readonly field: string;
}

/** Decoded objects of one kind with the labels of their selector. */
function selecting<S>(
  kind: string,
  group: string,
  spec: Schema<S>,
  field: string,
  labelsOf: (spec: S) => Labels | undefined,
): (ctx: AnalysisContext) => Selecting[] {
  return (ctx) => ctx.istio(kind, group, spec).map((obj) => ({ obj, labels: labelsOf(obj.spec), field }));
}

const NET = 'networking.istio.io';

/** A security.istio.io policy: `selector.matchLabels`. */
function policy<S extends { readonly selector?: { readonly matchLabels?: Labels } }>(
  kind: string,
  spec: Schema<S>,
): (ctx: AnalysisContext) => Selecting[] {
  return selecting(kind, 'security.istio.io', spec, 'spec.selector.matchLabels', (s) => s.selector?.matchLabels);
}

/** Kinds whose selector picks workloads, with where the labels are. */
const SELECTING: readonly ((ctx: AnalysisContext) => Selecting[])[] = [
  policy('AuthorizationPolicy', sec.authorizationPolicy),
  policy('PeerAuthentication', sec.peerAuthentication),
  policy('RequestAuthentication', sec.requestAuthentication),
  selecting('Sidecar', NET, net.sidecar, 'spec.workloadSelector.labels', (s) => s.workloadSelector?.labels),
  selecting(
    'DestinationRule',
    NET,
    net.destinationRule,
    'spec.workloadSelector.matchLabels',
    (s) => s.workloadSelector?.matchLabels,
  ),
  selecting('ServiceEntry', NET, net.serviceEntry, 'spec.workloadSelector.labels', (s) => s.workloadSelector?.labels),
];

export function analyzeSelectors(ctx: AnalysisContext): void {
  for (const objectsOf of SELECTING) {
    for (const { obj, labels, field } of objectsOf(ctx)) {
      if (!labels || Object.keys(labels).length === 0) continue;
      if (ctx.selected(nsOf(obj), labels).length === 0) {
        ctx.report(
          MSG.NoMatchingWorkloadsFound,
          obj,
          `No matching workloads for this resource with the following labels: ${labelText(labels)}`,
          field,
        );
      }
    }
  }
}
