// The parts of kube-controller-manager, the scheduler, kube-proxy and cluster DNS the boot test
// needs, driven by the API server's writes: Deployments and DaemonSets get their Pods (a
// changed template replaces them, a deleted owner deletes them), unscheduled Pods get a node
// whose NoSchedule taints they tolerate (else they stay Pending until a taint goes),
// Services with a selector get an EndpointSlice of the ready pods, every node's nat table
// DNATs ClusterIPs to endpoints, and Service names resolve through /etc/hosts.
import { createHash, randomBytes } from 'node:crypto';
import type { FakeApiServer, FakeObject } from '../support/fake-apiserver.js';
import { syncKubeProxy, type ServiceEndpoints } from './net.js';

export interface ControlPlaneOptions {
  readonly api: FakeApiServer;
  readonly nodes: ReadonlyArray<{ name: string; netns: string }>;
  /** The node for a new pod (default: round-robin). */
  readonly place?: (pod: FakeObject) => string | undefined;
  /** Called after Services or endpoints changed (kubelets refresh /etc/hosts). */
  readonly onServicesChanged?: () => Promise<void>;
  readonly event: (line: string) => void;
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

const matches = (labels: Record<string, string> | undefined, sel: Record<string, string> | undefined): boolean =>
  sel !== undefined && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels?.[k] === v);

interface Taint {
  key: string;
  value?: string;
  effect?: string;
}
interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

/** The scheduler's taint check: every NoSchedule taint of the node is tolerated by the pod. */
export function tolerates(pod: FakeObject, node: FakeObject | undefined): boolean {
  const taints = ((node?.spec as { taints?: Taint[] } | undefined)?.taints ?? []).filter(
    (t) => t.effect === 'NoSchedule',
  );
  const tolerations = (pod.spec as { tolerations?: Toleration[] } | undefined)?.tolerations ?? [];
  return taints.every((t) =>
    tolerations.some(
      (x) =>
        (x.key === undefined || x.key === '' ? x.operator === 'Exists' : x.key === t.key) &&
        (x.effect === undefined || x.effect === '' || x.effect === t.effect) &&
        (x.operator === 'Exists' || (x.value ?? '') === (t.value ?? '')),
    ),
  );
}

export class ControlPlane {
  private readonly unsubscribe: () => void;
  private running: Promise<void> = Promise.resolve();
  private pending = false;
  private rr = 0;
  private lastProxy = '';
  private stopped = false;
  private readonly pendingLogged = new Set<string>();

  constructor(private readonly o: ControlPlaneOptions) {
    this.unsubscribe = o.api.onChange((_t, obj) => {
      if (['Pod', 'Service', 'Deployment', 'DaemonSet', 'Node'].includes(obj.kind)) this.kick();
    });
    this.kick();
  }

  kick(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    this.running = this.running.then(async () => {
      await new Promise((r) => setTimeout(r, 20));
      this.pending = false;
      if (this.stopped) return;
      await this.reconcile().catch((err: unknown) => this.o.event(`control plane: ${(err as Error).message}`));
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    await this.running;
  }

  private async reconcile(): Promise<void> {
    const api = this.o.api;
    for (const d of api.listObjects('Deployment'))
      this.ownPods(d, Number((d.spec as { replicas?: number }).replicas ?? 1), undefined);
    for (const ds of api.listObjects('DaemonSet')) for (const n of this.o.nodes) this.ownPods(ds, 1, n.name);
    // Pods whose owner is gone.
    for (const p of api.listObjects('Pod')) {
      const owner = (p.metadata.ownerReferences as Array<{ kind: string; name: string }> | undefined)?.[0];
      if (owner && !api.getObject(owner.kind, owner.name, p.metadata.namespace)) this.deletePod(p);
    }
    // Scheduler.
    for (const p of api.listObjects('Pod')) {
      const spec = p.spec as { nodeName?: string };
      if (spec.nodeName) continue;
      const fits = this.o.nodes.map((n) => n.name).filter((n) => tolerates(p, api.getObject('Node', n)));
      const wanted = this.o.place?.(p);
      const node = wanted ? fits.find((n) => n === wanted) : fits[this.rr++ % Math.max(fits.length, 1)];
      const key = `${p.metadata.namespace}/${p.metadata.name}`;
      if (!node) {
        // Pending: every (or the wanted) node has a taint the pod does not tolerate.
        if (!this.pendingLogged.has(key)) this.o.event(`scheduler: ${key} pending: no node whose taints it tolerates`);
        this.pendingLogged.add(key);
        continue;
      }
      this.pendingLogged.delete(key);
      api.update({ ...p, spec: { ...spec, nodeName: node } });
      this.o.event(`scheduler: ${p.metadata.namespace}/${p.metadata.name} → ${node}`);
    }
    await this.endpoints();
  }

  /** Keep `count` pods of `owner`'s template (on `node`, for a DaemonSet) with the current template. */
  private ownPods(owner: FakeObject, count: number, node: string | undefined): void {
    const api = this.o.api;
    const ns = owner.metadata.namespace!;
    const template = (owner.spec as { template: PodTemplate }).template;
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const mine = api.listObjects('Pod', ns).filter((p) => {
      const ref = (p.metadata.ownerReferences as Array<{ kind: string; name: string }> | undefined)?.[0];
      return (
        ref?.kind === owner.kind &&
        ref.name === owner.metadata.name &&
        (node === undefined || (p.spec as { nodeName?: string }).nodeName === node)
      );
    });
    for (const p of mine) if (p.metadata.labels?.['pod-template-hash'] !== hash) this.deletePod(p);
    const current = mine.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    for (const p of current.slice(count)) this.deletePod(p);
    for (let i = current.length; i < count; i++) {
      const name = node
        ? `${owner.metadata.name}-${node}`
        : `${owner.metadata.name}-${hash.slice(0, 6)}-${randomBytes(3).toString('hex')}`;
      api.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: ns,
          labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash },
          annotations: { ...(template.metadata?.annotations ?? {}) },
          ownerReferences: [
            {
              apiVersion: owner.apiVersion,
              kind: owner.kind,
              name: owner.metadata.name,
              uid: owner.metadata.uid,
              controller: true,
            },
          ],
        },
        spec: { ...template.spec, ...(node ? { nodeName: node } : {}) },
      });
      this.o.event(`${owner.kind.toLowerCase()} ${ns}/${owner.metadata.name}: created pod ${name}`);
    }
  }

  private deletePod(p: FakeObject): void {
    try {
      this.o.api.delete('Pod', p.metadata.name, p.metadata.namespace);
    } catch {
      /* already gone */
    }
  }

  private async endpoints(): Promise<void> {
    const api = this.o.api;
    const proxy: ServiceEndpoints[] = [];
    for (const svc of api.listObjects('Service')) {
      const spec = (svc.spec ?? {}) as {
        selector?: Record<string, string>;
        clusterIP?: string;
        ports?: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>;
      };
      if (!spec.selector) continue;
      const pods = api
        .listObjects('Pod', svc.metadata.namespace)
        .filter(
          (p) => matches(p.metadata.labels, spec.selector) && (p.status as { podIP?: string } | undefined)?.podIP,
        );
      const ready = (p: FakeObject): boolean =>
        ((p.status as { conditions?: Array<{ type: string; status: string }> }).conditions ?? []).some(
          (c) => c.type === 'Ready' && c.status === 'True',
        );
      const portOf = (p: FakeObject, target: number | string | undefined, port: number): number => {
        if (typeof target === 'number') return target;
        if (target === undefined) return port;
        for (const c of (p.spec as { containers?: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> })
          .containers ?? []) {
          const hit = c.ports?.find((x) => x.name === target);
          if (hit) return hit.containerPort;
        }
        return port;
      };
      const first = pods[0];
      const slice: FakeObject = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${svc.metadata.name}-sim`,
          namespace: svc.metadata.namespace,
          labels: { 'kubernetes.io/service-name': svc.metadata.name },
        },
        addressType: 'IPv4',
        endpoints: pods.map((p) => ({
          addresses: [(p.status as { podIP: string }).podIP],
          conditions: { ready: ready(p) },
          nodeName: (p.spec as { nodeName?: string }).nodeName,
          targetRef: { kind: 'Pod', name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid },
        })),
        ports: (spec.ports ?? []).map((sp) => ({
          ...(sp.name ? { name: sp.name } : {}),
          port: first ? portOf(first, sp.targetPort, sp.port) : sp.port,
          protocol: sp.protocol ?? 'TCP',
        })),
      };
      const old = api.getObject('EndpointSlice', slice.metadata.name, svc.metadata.namespace);
      const strip = (o: FakeObject | undefined): string =>
        JSON.stringify(o ? { e: o.endpoints, p: o.ports } : undefined);
      if (!old) api.create(slice);
      else if (strip(old) !== strip(slice)) api.update({ ...slice, metadata: { ...old.metadata, ...slice.metadata } });
      if (spec.clusterIP && spec.clusterIP !== 'None') {
        for (const sp of spec.ports ?? []) {
          proxy.push({
            clusterIp: spec.clusterIP,
            port: sp.port,
            protocol: sp.protocol ?? 'TCP',
            targets: pods
              .filter(ready)
              .map((p) => ({ ip: (p.status as { podIP: string }).podIP, port: portOf(p, sp.targetPort, sp.port) })),
          });
        }
      }
    }
    const key = JSON.stringify(proxy);
    if (key !== this.lastProxy) {
      this.lastProxy = key;
      for (const n of this.o.nodes)
        await syncKubeProxy(n.netns, proxy).catch((err: unknown) =>
          this.o.event(`kube-proxy ${n.name}: ${(err as Error).message}`),
        );
      await this.o.onServicesChanged?.();
    }
  }
}

/** /etc/hosts lines for every Service with a ClusterIP (name.ns.svc[.cluster.local]). */
export function serviceHosts(api: FakeApiServer): string {
  return api
    .listObjects('Service')
    .map((s) => {
      const ip = (s.spec as { clusterIP?: string } | undefined)?.clusterIP;
      if (!ip || ip === 'None') return '';
      const n = `${s.metadata.name}.${s.metadata.namespace}`;
      return `${ip}\t${n}.svc.cluster.local ${n}.svc ${n}\n`;
    })
    .join('');
}
