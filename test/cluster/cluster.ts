// A two-node cluster on this machine with the chart installed: the test API server (HTTPS on
// the host's end of node-a's link, port 443, enforcing the chart's RBAC), node-a and node-b
// (network namespaces, kubelet.ts), the control-plane loops (control-plane.ts), and the
// chart's objects created through the API as `helm install` does. Everything started is
// recorded so `stop()` removes it even after a failed start.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeApiServer, type FakeObject } from '../support/fake-apiserver.js';
import { GATEWAY_API, RELEASE_NAMESPACE, renderChart, type RenderedChart } from './chart.js';
import type { Container } from './container.js';
import { ControlPlane, serviceHosts } from './control-plane.js';
import { snapshotDist } from './images.js';
import { Kubelet, type RunningPod } from './kubelet.js';
import {
  addressing,
  createNodes,
  leftovers,
  removeLeftovers,
  removeNodes,
  sh,
  type Exec,
  type NodeAddressing,
} from './net.js';

export interface ClusterOptions {
  readonly profile: string;
  /** Short tag for names (netns `<tag>-node-a`, veths), ≤ 4 chars. */
  readonly tag: string;
  /** Second octet of the cluster's 10.x.0.0/16. */
  readonly octet: number;
  readonly set?: readonly string[];
  /** Where a new pod goes (default round-robin). */
  readonly place?: (pod: FakeObject) => string | undefined;
}

export class Cluster {
  api!: FakeApiServer;
  chart!: RenderedChart;
  readonly kubelets: Kubelet[] = [];
  controlPlane: ControlPlane | undefined;
  readonly events: string[] = [];
  readonly nodes: readonly [NodeAddressing, NodeAddressing];
  readonly serviceCidr: string;
  readonly apiServerIp: string;
  private dir = '';
  private networked = false;

  private constructor(readonly o: ClusterOptions) {
    const a = addressing(o.tag, o.octet);
    this.nodes = a.nodes;
    this.serviceCidr = a.serviceCidr;
    this.apiServerIp = a.apiServerIp;
  }

  static async start(o: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(o);
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  event(line: string): void {
    this.events.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
  }

  private async boot(): Promise<void> {
    this.chart = await renderChart(this.o.profile, this.o.set);
    this.dir = await mkdtemp(path.join(tmpdir(), `ambit-cluster-${this.o.tag}-`));
    await chmod(this.dir, 0o755); // containers running as 1337 walk through it
    this.networked = true;
    await removeLeftovers(this.o.tag, this.nodes);
    await createNodes(this.nodes);
    this.api = await FakeApiServer.start({
      rbac: true,
      tls: true,
      host: this.apiServerIp,
      port: 443,
      serviceCidr: this.serviceCidr,
    });
    this.api.serveStandard();
    for (const r of [...GATEWAY_API, ...this.chart.crds]) this.api.serve(r);
    const readinessTaint = nodeReadinessTaint(this.chart.objects);
    for (const n of this.nodes) {
      this.api.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
        // Nodes join with the readiness taint the chart's installer removes (as its values say).
        ...(readinessTaint ? { spec: { taints: [{ key: readinessTaint, effect: 'NoSchedule' }] } } : {}),
        status: { addresses: [{ type: 'InternalIP', address: n.nodeIp }] },
      });
    }
    this.api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELEASE_NAMESPACE } });
    for (const o of this.chart.objects) this.install(o);
    const nodePaths = new Set<string>(['/opt/cni/bin', '/etc/cni/net.d', '/var/lib/cni']);
    for (const ds of this.chart.objects.filter((x) => x.kind === 'DaemonSet')) {
      const vols =
        (ds.spec as { template: { spec: { volumes?: Array<{ hostPath?: { path: string } }> } } }).template.spec
          .volumes ?? [];
      for (const v of vols) if (v.hostPath) nodePaths.add(v.hostPath.path);
    }
    const hosts = (): string => serviceHosts(this.api);
    const imageDist = await snapshotDist(this.dir);
    for (const n of this.nodes) {
      const k = new Kubelet(
        {
          api: this.api,
          dir: this.dir,
          apiServer: { host: this.apiServerIp, port: 443 },
          nodePaths: [...nodePaths],
          hosts,
          event: (l) => this.event(l),
          imageDist,
        },
        n,
        this.o.tag,
      );
      this.kubelets.push(k);
      await k.prepare();
    }
    this.controlPlane = new ControlPlane({
      api: this.api,
      nodes: this.nodes,
      event: (l) => this.event(l),
      ...(this.o.place ? { place: this.o.place } : {}),
      onServicesChanged: async () => {
        for (const k of this.kubelets) await k.refreshHosts();
      },
    });
  }

  /** Create a rendered object through the API server's store (as helm install, with admin rights). */
  install(o: FakeObject): FakeObject {
    const group = o.apiVersion?.includes('/') ? o.apiVersion.split('/')[0]! : '';
    if (!this.api.serves(o.kind, group))
      throw new Error(
        `the chart renders ${o.apiVersion} ${o.kind} ${o.metadata.name}, which this cluster does not serve`,
      );
    const namespaced = !['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'Node', 'CustomResourceDefinition'].includes(
      o.kind,
    );
    return this.api.create(
      namespaced ? { ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? RELEASE_NAMESPACE } } : o,
    );
  }

  /**
   * Write through the API server's REST interface as the cluster admin (what kubectl does):
   * POST a new object, PUT a changed one, DELETE one. Returns the server's answer.
   */
  async kubectl(method: 'POST' | 'PUT' | 'DELETE', obj: FakeObject): Promise<FakeObject> {
    const url = new URL(this.api.url + this.api.pathOf(obj, method !== 'POST'));
    const body = method === 'DELETE' ? undefined : JSON.stringify(obj);
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          ca: this.api.caPem,
          headers: { authorization: `Bearer ${this.api.adminToken}`, 'content-type': 'application/json' },
        },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => {
            text += c.toString();
          });
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    if (res.status >= 300) throw new Error(`${method} ${url.pathname}: ${res.status} ${res.text.slice(0, 300)}`);
    return JSON.parse(res.text) as FakeObject;
  }

  kubelet(node: string): Kubelet {
    const k = this.kubelets.find((x) => x.node.name === node);
    if (!k) throw new Error(`no node ${node}`);
    return k;
  }

  /** Every running pod (namespace/name → pod and its node). */
  pods(): Array<RunningPod & { node: string }> {
    return this.kubelets.flatMap((k) => [...k.pods.values()].map((p) => ({ ...p, node: k.node.name })));
  }

  pod(namespace: string, namePrefix: string, node?: string): (RunningPod & { node: string }) | undefined {
    return this.pods().find(
      (p) => p.namespace === namespace && p.name.startsWith(namePrefix) && (node === undefined || p.node === node),
    );
  }

  /** All containers, `namespace/pod/container` → container. */
  containers(): Array<{ id: string; node: string; container: Container }> {
    return this.pods().flatMap((p) =>
      [...p.containers.values()].map((c) => ({ id: c.spec.id, node: p.node, container: c })),
    );
  }

  /** Run a command in a pod's network namespace (as `kubectl exec` would, without the mounts). */
  exec(pod: RunningPod, cmd: readonly string[], timeoutMs = 20_000): Promise<Exec> {
    return sh('ip', ['netns', 'exec', pod.netns, ...cmd], { timeoutMs });
  }

  /** What went on, for a failed expectation: containers (state, restarts, last lines), RBAC denials, kubelet problems, events. */
  describe(filter?: (id: string) => boolean): string {
    const lines: string[] = [];
    for (const { id, node, container } of this.containers()) {
      if (filter && !filter(id)) continue;
      lines.push(
        `--- ${id} on ${node}: ${container.running ? 'running' : 'NOT running'}, restarts ${container.restarts}`,
      );
      if (container.firstExit !== undefined) lines.push('(up to its first exit:)', container.firstExit, '(now:)');
      lines.push(container.tail(12));
    }
    if (this.api?.denials.length)
      lines.push(
        '--- RBAC denials:',
        ...this.api.denials
          .slice(-15)
          .map((d) => `${d.user} ${d.verb} ${d.resource} ${d.namespace ?? '(cluster)'} ${d.name ?? ''}`),
      );
    const problems = this.kubelets.flatMap((k) => k.problems.slice(-5));
    if (problems.length) lines.push('--- kubelet problems:', ...problems);
    lines.push('--- events:', ...this.events.slice(-25));
    return lines.join('\n');
  }

  /** Poll until `probe` returns a value; on timeout fail with `what` and describe(). */
  async waitFor<T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<T | undefined> | T | undefined,
    filter?: (id: string) => boolean,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}\n${this.describe(filter)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Stop everything; returns what could not be removed (processes still alive, namespaces, links, routes). */
  async stop(): Promise<string[]> {
    const pids = this.containers().map((x) => ({ id: x.id, pid: x.container.pid }));
    await this.controlPlane?.stop().catch(() => undefined);
    // Application pods before the nodes' agents, so the agents see the CNI DELs.
    const appsFirst = [...this.kubelets];
    // Pods stop in parallel (each has its own grace period), the groups one after the other.
    await Promise.all(
      appsFirst.flatMap((k) =>
        [...k.pods.values()]
          .filter((x) => !x.hostNetwork && x.namespace !== RELEASE_NAMESPACE)
          .map((p) => k.stopPod(`${p.namespace}/${p.name}`).catch(() => undefined)),
      ),
    );
    await Promise.all(this.kubelets.map((k) => k.stop().catch(() => undefined)));
    await this.api?.close().catch(() => undefined);
    if (this.networked) await removeNodes(this.nodes);
    if (this.dir) await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    const left = this.networked ? await leftovers(this.o.tag, this.nodes) : [];
    for (const { id, pid } of pids) {
      if (!pid) continue;
      try {
        process.kill(pid, 0);
        left.push(`process ${pid} (${id})`);
      } catch {
        /* gone, as it should be */
      }
    }
    return left;
  }
}

/** The taint the chart's CNI installer removes (`--node-taint KEY`), if it renders one. */
export function nodeReadinessTaint(objects: readonly FakeObject[]): string | undefined {
  for (const ds of objects.filter((o) => o.kind === 'DaemonSet')) {
    const containers = (ds.spec as { template: { spec: { containers: Array<{ args?: string[] }> } } }).template.spec
      .containers;
    for (const c of containers) {
      const i = c.args?.indexOf('--node-taint') ?? -1;
      if (i >= 0) return c.args![i + 1];
    }
  }
  return undefined;
}
