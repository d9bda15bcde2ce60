// What the analyzers read: the objects by kind, the workloads' labels per namespace, and
// where each object came from. Pure: built from the objects alone.
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import { objectKey } from '../sources/types.js';
import { decodeIstioObject, type IstioObject } from '../translate/decode-object.js';
import { decodeKubeObject, type KubeDecoded } from '../translate/decode-kube.js';
import { workloadEntry } from '../../core/crds/networking.js';
import { deploymentBody, podBody } from '../../core/crds/kubernetes.js';
import type { Schema } from '../../core/crds/schema.js';
import type { Message, MessageType, Origin } from './messages.js';

export interface WorkloadRef {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export class AnalysisContext {
  readonly messages: Message[] = [];
  private workloadList: WorkloadRef[] | undefined;

  constructor(
    readonly objects: readonly KubeObject[],
    readonly opts: {
      readonly rootNamespace: string;
      readonly domain: string;
      readonly origins?: ReadonlyMap<string, ObjectOrigin>;
    },
  ) {}

  /** Pods, workload controllers' templates and WorkloadEntries, with their labels (computed once). */
  get workloads(): readonly WorkloadRef[] {
    if (this.workloadList) return this.workloadList;
    const list: WorkloadRef[] = [];
    for (const o of this.objects) {
      const ns = o.metadata?.namespace ?? 'default';
      if (o.kind === 'Pod') {
        const labels = decodeKubeObject(o, podBody).value.metadata.labels ?? {};
        list.push({ namespace: ns, name: o.metadata.name, labels });
      } else if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) {
        // The four share the pod template's place (spec.template.metadata.labels).
        const labels = decodeKubeObject(o, deploymentBody).value.spec?.template?.metadata?.labels ?? {};
        list.push({ namespace: ns, name: o.metadata.name, labels });
      } else if (o.kind === 'WorkloadEntry') {
        const labels = decodeIstioObject(o, workloadEntry).value.spec.labels ?? {};
        list.push({ namespace: ns, name: o.metadata.name, labels });
      }
    }
    this.workloadList = list;
    return list;
  }

  /** Istio objects of a kind (`networking.istio.io`, `security.istio.io`, …), or core/apps ones. */
  of(kind: string, group?: string): KubeObject[] {
    return this.objects.filter(
      (o) =>
        o.kind === kind && o.metadata?.name && (group === undefined || (o.apiVersion ?? '').startsWith(`${group}/`)),
    );
  }

  /**
   * Istio objects of a kind, decoded against their CRD's spec schema: the typed value the
   * translator validated (decoding is cached per object, so this costs nothing twice).
   */
  istio<S>(kind: string, group: string, spec: Schema<S>): IstioObject<S>[] {
    return this.of(kind, group).map((o) => decodeIstioObject(o, spec).value);
  }

  /** Kubernetes objects of a kind (Service, Pod, …), decoded against the open schema of what is read. */
  kube<B>(kind: string, body: Schema<B>): KubeDecoded<B>[] {
    return this.of(kind).map((o) => decodeKubeObject(o, body).value);
  }

  origin(obj: KubeObject): Origin {
    const o = this.opts.origins?.get(objectKey(obj));
    return {
      kind: obj.kind,
      name: obj.metadata?.name ?? '<unnamed>',
      ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
      ...(o?.file ? { file: o.file } : {}),
      ...(o?.line ? { line: o.line } : {}),
    };
  }

  report(type: MessageType, obj: KubeObject, text: string, field?: string): void {
    this.messages.push({ type, origin: this.origin(obj), text, ...(field ? { field } : {}) });
  }

  /** Workloads a selector picks: in `ns`, or anywhere for the root namespace. */
  selected(ns: string, labels: Readonly<Record<string, string>>): WorkloadRef[] {
    return this.workloads.filter(
      (w) =>
        (ns === this.opts.rootNamespace || w.namespace === ns) &&
        Object.entries(labels).every(([k, v]) => w.labels[k] === v),
    );
  }
}

export const nsOf = (o: KubeObject): string => o.metadata?.namespace ?? 'default';

export function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',');
}
