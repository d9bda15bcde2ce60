// Pods, Deployments (local mode: expanded to pods `<name>-<i>`), WorkloadEntries and
// WorkloadGroup templates → mesh Workloads with identity, IPs, node, labels, locality, and
// enrolment from the namespace label (`mesh-mode=ambient` or `istio.io/dataplane-mode=ambient`).
import { spiffeIdFor } from './identity.js';
import { localityFromText } from './locality.js';
import { compact, byKey } from './collections.js';
import type { Inventory } from './inventory.js';
import type { IstioObject } from './decode-object.js';
import type { Deployment, Pod } from './decode-kube.js';
import type { WorkloadEntrySpec, WorkloadGroupSpec } from '../../core/crds/types.js';
import type { Labels, Locality, Workload } from '../../core/model/types.js';
import {
  canonicalNameOf,
  canonicalRevisionOf,
  GATEWAY_NAME_LABEL,
  isAmbient,
  optsOut,
  WORKLOAD_NAME_LABEL,
} from '../../core/mesh/vocabulary.js';

export const POD_IP_ANNOTATION = 'ambit.dev/pod-ip';
/** The node whose agent serves a WorkloadEntry (a VM's agent); without it, none in kube mode. */
export const WORKLOAD_ENTRY_NODE_ANNOTATION = 'ambit.dev/node';
const AUTO_REGISTRATION_GROUP = 'istio.io/autoRegistrationGroup';

/** Locality: pod label `istio-locality` (region.zone.subzone), then node, then pod topology labels. */
export function localityOf(podLabels: Labels, nodeLabels: Labels | undefined): Locality | undefined {
  const explicit = podLabels['istio-locality'];
  if (explicit) {
    const [region, zone, subzone] = explicit.split('.');
    return compact({ region: region || undefined, zone: zone || undefined, subzone: subzone || undefined });
  }
  const from = (l: Labels): Locality =>
    compact({
      region: l['topology.kubernetes.io/region'],
      zone: l['topology.kubernetes.io/zone'],
      subzone: l['topology.istio.io/subzone'],
    });
  const node = nodeLabels ? from(nodeLabels) : {};
  const locality = Object.keys(node).length > 0 ? node : from(podLabels);
  return Object.keys(locality).length > 0 ? locality : undefined;
}

function splitIps(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function podIps(pod: Pod): string[] {
  const status = pod.status;
  const list = (status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (list.length > 0) return list;
  if (status?.podIP) return [status.podIP];
  return splitIps(pod.metadata.annotations?.[POD_IP_ANNOTATION]);
}

export interface WorkloadContext {
  readonly trustDomain: string;
  readonly namespaceLabels: ReadonlyMap<string, Labels>;
  readonly nodeLabels: ReadonlyMap<string, Labels>;
  /**
   * File/local mode: the node of pods without spec.nodeName (this machine). Kube mode: none,
   * so a pod not yet scheduled is on no node (no agent serves it, the CA signs it for no one).
   */
  readonly defaultNode?: string;
}

// A Job a CronJob created: `<cronjob>-<scheduled time in minutes>`.
const CRON_JOB_NAME = /^(.+)-\d{8,10}$/;

/**
 * The owning workload's name, as Istio derives `*_workload` from a pod: Istio's
 * `service.istio.io/workload-name` label; a waypoint pod's Gateway (Istio names the waypoint's
 * Deployment after it); the controlling owner reference of a generated pod, with a ReplicaSet
 * `<deployment>-<pod-template-hash>` read as its Deployment and a Job `<cronjob>-<minutes>` as its
 * CronJob; else the pod's own name.
 */
export function podWorkloadName(pod: Pick<Pod, 'metadata'>): string {
  const labels = pod.metadata.labels ?? {};
  if (labels[WORKLOAD_NAME_LABEL]) return labels[WORKLOAD_NAME_LABEL];
  if (labels[GATEWAY_NAME_LABEL]) return labels[GATEWAY_NAME_LABEL];
  const meta = pod.metadata;
  const owner = meta.ownerReferences?.find((o) => o.controller === true);
  const ownerName = owner?.name;
  if (!owner || !ownerName || !meta.generateName) return pod.metadata.name;
  const hash = labels['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && ownerName.endsWith(`-${hash}`))
    return ownerName.slice(0, -hash.length - 1);
  if (owner.kind === 'Job') return CRON_JOB_NAME.exec(ownerName)?.[1] ?? ownerName;
  return ownerName;
}

interface PodLike {
  uid: string;
  name: string;
  workloadName: string;
  namespace: string;
  labels: Labels;
  serviceAccount: string;
  ips: string[];
  node: string | undefined;
  healthy: boolean;
}

function workloadOf(
  ctx: WorkloadContext,
  kind: 'Pod' | 'WorkloadEntry',
  p: PodLike,
  localityOverride?: Locality,
): Workload {
  const nsLabels = ctx.namespaceLabels.get(p.namespace);
  const enrolled = isAmbient(nsLabels) && !optsOut(p.labels);
  return compact({
    uid: p.uid,
    kind,
    name: p.name,
    namespace: p.namespace,
    serviceAccount: p.serviceAccount,
    identity: spiffeIdFor(ctx.trustDomain, p.namespace, p.serviceAccount),
    workloadName: p.workloadName,
    ips: p.ips,
    node: p.node,
    labels: p.labels,
    locality: localityOverride ?? localityOf(p.labels, p.node === undefined ? undefined : ctx.nodeLabels.get(p.node)),
    enrolled,
    canonicalName: canonicalNameOf(p.labels) ?? p.name,
    canonicalRevision: canonicalRevisionOf(p.labels) ?? 'latest',
    healthy: p.healthy,
  });
}

/** One Pod's workload (undefined once it has Succeeded or Failed). */
export function fromPod(ctx: WorkloadContext, pod: Pod): Workload | undefined {
  const status = pod.status;
  const phase = status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const spec = pod.spec ?? {};
  const ns = pod.metadata.namespace ?? 'default';
  const ready = status?.conditions ? status.conditions.find((c) => c.type === 'Ready')?.status !== 'False' : true;
  return workloadOf(ctx, 'Pod', {
    uid: `Pod/${ns}/${pod.metadata.name}`,
    name: pod.metadata.name,
    workloadName: podWorkloadName(pod),
    namespace: ns,
    labels: { ...pod.metadata.labels },
    serviceAccount: spec.serviceAccountName ?? spec.serviceAccount ?? 'default',
    ips: podIps(pod),
    node: spec.nodeName || ctx.defaultNode,
    // a terminating pod (deletionTimestamp set) takes no new traffic
    healthy: ready && pod.metadata.deletionTimestamp === undefined,
  });
}

/** Local mode: a Deployment becomes `replicas` pods named `<name>-<i>`. */
function fromDeployment(ctx: WorkloadContext, dep: Deployment): Workload[] {
  const spec = dep.spec ?? {};
  const tmeta = spec.template?.metadata ?? {};
  const tspec = spec.template?.spec ?? {};
  const replicas = spec.replicas ?? 1;
  const tlabels = tmeta.labels ?? {};
  const ns = dep.metadata.namespace ?? 'default';
  const ips = splitIps(dep.metadata.annotations?.[POD_IP_ANNOTATION] ?? tmeta.annotations?.[POD_IP_ANNOTATION]);
  const out: Workload[] = [];
  for (let i = 0; i < replicas; i++) {
    const name = `${dep.metadata.name}-${i}`;
    const ip = ips[i];
    out.push(
      workloadOf(ctx, 'Pod', {
        uid: `Pod/${ns}/${name}`,
        name,
        workloadName: tlabels[WORKLOAD_NAME_LABEL] ?? dep.metadata.name,
        namespace: ns,
        // Telemetry names the owning Deployment, as Istio's `source_workload` does.
        labels: { [WORKLOAD_NAME_LABEL]: dep.metadata.name, ...tlabels },
        serviceAccount: tspec.serviceAccountName ?? 'default',
        ips: ip ? [ip] : [],
        node: tspec.nodeName || ctx.defaultNode,
        healthy: true,
      }),
    );
  }
  return out;
}

function fromWorkloadEntry(
  ctx: WorkloadContext,
  we: IstioObject<WorkloadEntrySpec>,
  groups: ReadonlyMap<string, IstioObject<WorkloadGroupSpec>>,
): Workload {
  const ns = we.metadata.namespace ?? 'default';
  const spec = we.spec;
  const groupName = we.metadata.annotations?.[AUTO_REGISTRATION_GROUP];
  const group = groupName ? groups.get(`${ns}/${groupName}`) : undefined;
  const template = group?.spec.template ?? {};
  const labels = { ...group?.spec.metadata?.labels, ...template.labels, ...spec.labels };
  const locality = localityFromText(spec.locality ?? template.locality);
  return workloadOf(
    ctx,
    'WorkloadEntry',
    {
      uid: `WorkloadEntry/${ns}/${we.metadata.name}`,
      name: we.metadata.name,
      // Istio: a WorkloadEntry's workload is its label, else its WorkloadGroup, else itself.
      workloadName: labels[WORKLOAD_NAME_LABEL] ?? groupName ?? we.metadata.name,
      namespace: ns,
      labels,
      serviceAccount: spec.serviceAccount ?? template.serviceAccount ?? 'default',
      ips: spec.address ? [spec.address] : [],
      node: we.metadata.annotations?.[WORKLOAD_ENTRY_NODE_ANNOTATION] || ctx.defaultNode,
      healthy: true,
    },
    locality,
  );
}

export function buildWorkloads(inv: Inventory, ctx: WorkloadContext): Workload[] {
  const groups = new Map(
    inv.workloadGroups.map((g) => [`${g.metadata.namespace ?? 'default'}/${g.metadata.name}`, g] as const),
  );
  const out = new Map<string, Workload>();
  for (const dep of inv.deployments) for (const w of fromDeployment(ctx, dep)) out.set(w.uid, w);
  // A real Pod with the same name as an expanded replica wins (kube mode has both).
  for (const pod of inv.pods) {
    const w = fromPod(ctx, pod);
    if (w) out.set(w.uid, w);
  }
  for (const we of inv.workloadEntries) {
    const w = fromWorkloadEntry(ctx, we, groups);
    out.set(w.uid, w);
  }
  return [...out.values()].sort(byKey((w) => w.uid));
}
