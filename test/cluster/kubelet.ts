// A kubelet for one simulated node. For every Pod bound to the node (spec.nodeName) it does
// what a kubelet and its container runtime do: a network namespace networked by the CNI
// conflist found in the node's /etc/cni/net.d (run with CNI_PATH=/opt/cni/bin inside the
// node's filesystem view and network namespace, retried with backoff while it fails), the
// pod's status (podIP, hostIP, Ready from the readiness probe), its volumes (ConfigMaps and
// Secrets kept up to date, projected service-account tokens minted for the pod with their
// audience, emptyDirs, hostPaths under the node's root, the automounted API token + ca.crt +
// namespace), its env (values, downward API, ConfigMap/Secret refs, service links,
// KUBERNETES_SERVICE_*) and its containers (container.ts). Deleting the pod stops the
// containers, runs CNI DEL and removes the namespace.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FakeApiServer, FakeObject } from '../support/fake-apiserver.js';
import { Container } from './container.js';
import { imageFor, REPO, writeImageFile } from './images.js';
import { sh, type NodeAddressing } from './net.js';
import { buildRootfs, launchScript, type Mount } from './rootfs.js';

/** Host paths that are the machine's own (shared by both nodes), not the node's temp root. */
const REAL_HOST_PATHS = ['/var/run/netns', '/run/netns', '/proc', '/sys', '/dev', '/lib/modules'];

export interface KubeletContext {
  readonly api: FakeApiServer;
  /** The cluster's temp folder. */
  readonly dir: string;
  readonly apiServer: { host: string; port: number };
  /** Node paths every node's filesystem view maps into its root (hostPaths of the DaemonSets + CNI dirs). */
  readonly nodePaths: readonly string[];
  /** /etc/hosts lines for Service names (the cluster DNS, without a DNS server). */
  readonly hosts: () => string;
  readonly event: (line: string) => void;
  /** The frozen dist/ the images run (mounted at REPO/dist in containers and the node view). */
  readonly imageDist: string;
}

interface Probe {
  path: string;
  port: number | string;
}
interface ContainerSpecK8s {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: Array<{ name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string }; prefix?: string }>;
  volumeMounts?: Array<{
    name: string;
    mountPath: string;
    readOnly?: boolean;
    subPath?: string;
    mountPropagation?: string;
  }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: { httpGet?: Probe };
  securityContext?: {
    runAsUser?: number;
    runAsGroup?: number;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
}
interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  securityContext?: {
    runAsUser?: number;
    runAsGroup?: number;
    sysctls?: Array<{ name: string; value: string }>;
  };
  containers: ContainerSpecK8s[];
  initContainers?: ContainerSpecK8s[];
  volumes?: Array<Record<string, unknown> & { name: string }>;
}

export interface RunningPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly netns: string;
  readonly ip: string;
  readonly hostNetwork: boolean;
  readonly containers: Map<string, Container>;
  cniResult?: Record<string, unknown>;
  containerId: string;
  ready: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const podKey = (ns: string, name: string): string => `${ns}/${name}`;

export class Kubelet {
  readonly pods = new Map<string, RunningPod>();
  private readonly starting = new Map<string, Promise<void>>();
  private readonly cancelled = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private volumeWriters: Array<(obj: FakeObject) => Promise<void>> = [];
  private netnsSeq = 0;
  private stopping = false;
  readonly root: string;
  /** Failures of pod starts (CNI, volumes), newest last. */
  readonly problems: string[] = [];

  constructor(
    private readonly ctx: KubeletContext,
    readonly node: NodeAddressing,
    private readonly tag: string,
  ) {
    this.root = path.join(ctx.dir, 'nodes', node.name, 'root');
  }

  /** The node's path `p` as a path on this machine. */
  hostPath(p: string): string {
    const abs = path.resolve(p);
    if (REAL_HOST_PATHS.some((r) => abs === r || abs.startsWith(r + '/'))) return abs;
    return path.join(this.root, abs);
  }

  /** The node's own filesystem: CNI dirs with the reference plugins and a bridge + host-local conflist. */
  async prepare(): Promise<void> {
    for (const p of this.ctx.nodePaths) await mkdir(this.hostPath(p), { recursive: true, mode: 0o755 });
    const bin = this.hostPath('/opt/cni/bin');
    const conf = this.hostPath('/etc/cni/net.d');
    await mkdir(bin, { recursive: true });
    await mkdir(conf, { recursive: true });
    for (const plugin of ['bridge', 'host-local', 'loopback'])
      await sh('cp', [`/usr/lib/cni/${plugin}`, path.join(bin, plugin)]);
    const conflist = {
      cniVersion: '1.0.0',
      name: 'k8s-pod-network',
      plugins: [
        {
          type: 'bridge',
          bridge: this.node.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: this.node.podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: '/var/lib/cni/networks',
          },
        },
      ],
    };
    await writeFile(path.join(conf, '10-bridge.conflist'), JSON.stringify(conflist, null, 2));
    this.unsubscribe = this.ctx.api.onChange((type, obj) => this.onChange(type, obj));
    for (const pod of this.ctx.api.listObjects('Pod')) this.onChange('ADDED', pod);
    this.probeTimer = setInterval(() => void this.probeAll(), 1000);
  }

  private onChange(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: FakeObject): void {
    if (this.stopping) return;
    if (obj.kind === 'ConfigMap' || obj.kind === 'Secret') {
      for (const w of this.volumeWriters) void w(obj).catch(() => undefined);
      return;
    }
    if (obj.kind !== 'Pod' || (obj.spec as PodSpec | undefined)?.nodeName !== this.node.name) return;
    const key = podKey(obj.metadata.namespace!, obj.metadata.name);
    if (type === 'DELETED') {
      void this.stopPod(key);
      return;
    }
    if (this.pods.has(key) || this.starting.has(key)) return;
    const p = this.startPod(obj)
      .catch((err: unknown) => {
        this.problems.push(`pod ${key} on ${this.node.name}: ${(err as Error).message}`);
        this.ctx.event(`kubelet ${this.node.name}: pod ${key} failed to start: ${(err as Error).message}`);
      })
      .finally(() => this.starting.delete(key));
    this.starting.set(key, p);
  }

  // ---- CNI ----

  private async nodeView(): Promise<{ root: string; mounts: Mount[] }> {
    const root = path.join(this.ctx.dir, 'nodes', this.node.name, `view-${randomBytes(4).toString('hex')}`);
    const wanted = [...new Set([...this.ctx.nodePaths, '/opt/cni/bin', '/etc/cni/net.d', '/var/lib/cni'])].filter(
      (p) => this.hostPath(p) !== path.resolve(p),
    );
    for (const p of wanted) await mkdir(this.hostPath(p), { recursive: true });
    const mounts = await buildRootfs(root, {
      mounts: [
        ...wanted.map((p) => ({ source: this.hostPath(p), target: p, recursive: true })),
        { source: this.ctx.imageDist, target: path.join(REPO, 'dist'), readOnly: true },
      ],
    });
    return { root, mounts };
  }

  private viewCache: Promise<{ root: string; mounts: Mount[] }> | undefined;

  /** Run one CNI plugin as the kubelet does, in the node's netns and filesystem. */
  private async plugin(
    type: string,
    env: Record<string, string>,
    stdin: string,
  ): Promise<{ code: number; json?: Record<string, unknown>; stdout: string; stderr: string }> {
    this.viewCache ??= this.nodeView();
    const view = await this.viewCache;
    const script = launchScript(view.root, view.mounts, { workdir: '/' });
    const r = await sh(
      'ip',
      [
        'netns',
        'exec',
        this.node.netns,
        'unshare',
        '-m',
        '--propagation',
        'slave',
        '/bin/sh',
        '-c',
        script,
        'sh',
        `/opt/cni/bin/${type}`,
      ],
      {
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
        stdin,
        timeoutMs: 90_000,
      },
    );
    let json: Record<string, unknown> | undefined;
    try {
      json = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, ...(json ? { json } : {}) };
  }

  private async conflist(): Promise<{
    cniVersion: string;
    name: string;
    plugins: Array<Record<string, unknown> & { type: string }>;
  }> {
    const dir = this.hostPath('/etc/cni/net.d');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.conflist') || f.endsWith('.conf')).sort();
    if (files.length === 0) throw new Error(`no CNI config in ${this.node.name}:/etc/cni/net.d`);
    const parsed = JSON.parse(await readFile(path.join(dir, files[0]!), 'utf8')) as {
      cniVersion: string;
      name: string;
      plugins?: Array<Record<string, unknown> & { type: string }>;
      type?: string;
    };
    return parsed.plugins
      ? { cniVersion: parsed.cniVersion, name: parsed.name, plugins: parsed.plugins }
      : {
          cniVersion: parsed.cniVersion,
          name: parsed.name,
          plugins: [parsed as Record<string, unknown> & { type: string }],
        };
  }

  private async cni(command: 'ADD' | 'DEL', pod: RunningPod): Promise<Record<string, unknown> | undefined> {
    const list = await this.conflist();
    const plugins = command === 'DEL' ? [...list.plugins].reverse() : list.plugins;
    let prev = command === 'ADD' ? undefined : pod.cniResult;
    const env = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: `/var/run/netns/${pod.netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}`,
    };
    const errors: string[] = [];
    for (const p of plugins) {
      const stdin = JSON.stringify({
        ...p,
        cniVersion: list.cniVersion,
        name: list.name,
        ...(prev ? { prevResult: prev } : {}),
      });
      const out = await this.plugin(p.type, env, stdin);
      if (out.code !== 0) {
        const msg = `${p.type} ${command} failed (exit ${out.code}): ${out.json ? `${String(out.json.msg)} ${String(out.json.details ?? '')}` : (out.stderr || out.stdout).trim()}`;
        if (command === 'DEL') {
          errors.push(msg);
          continue;
        }
        throw new Error(msg);
      }
      if (command === 'ADD') prev = out.json;
    }
    if (errors.length > 0) throw new Error(errors.join('; '));
    return prev;
  }

  // ---- pods ----

  private async startPod(obj: FakeObject): Promise<void> {
    const spec = obj.spec as PodSpec;
    const ns = obj.metadata.namespace!;
    const name = obj.metadata.name;
    const key = podKey(ns, name);
    const hostNetwork = spec.hostNetwork === true;
    const pod: RunningPod = {
      namespace: ns,
      name,
      uid: obj.metadata.uid!,
      hostNetwork,
      containers: new Map(),
      ready: false,
      netns: hostNetwork ? this.node.netns : `${this.tag}-${this.node.name.slice(-1)}${++this.netnsSeq}`,
      ip: hostNetwork ? this.node.nodeIp : '',
      containerId: randomBytes(32).toString('hex'),
    };
    const dir = path.join(this.ctx.dir, 'pods', `${ns}_${name}`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if (!hostNetwork) {
      await sh('ip', ['netns', 'del', pod.netns]);
      const add = await sh('ip', ['netns', 'add', pod.netns]);
      if (add.code !== 0) throw new Error(`ip netns add ${pod.netns}: ${add.stderr}`);
      await sh('ip', ['-n', pod.netns, 'link', 'set', 'lo', 'up']);
      // Namespaced sysctls of the pod (a gateway's ip_unprivileged_port_start), set in its sandbox.
      for (const { name: key, value } of spec.securityContext?.sysctls ?? []) {
        const set = await sh('ip', ['netns', 'exec', pod.netns, 'sysctl', '-w', `${key}=${value}`]);
        if (set.code !== 0) this.problems.push(`sysctl ${key} in ${pod.netns}: ${set.stderr.trim()}`);
      }
      // A failed sandbox is retried with backoff while the pod exists, as the kubelet does.
      let attempt = 0;
      for (;;) {
        if (this.stopping || this.cancelled.has(key)) {
          await sh('ip', ['netns', 'del', pod.netns]);
          return;
        }
        try {
          pod.cniResult = await this.cni('ADD', pod);
          break;
        } catch (err) {
          attempt++;
          const msg = `CNI ADD for ${key} (attempt ${attempt}): ${(err as Error).message}`;
          this.problems.push(msg);
          this.ctx.event(`kubelet ${this.node.name}: ${msg}`);
          await this.cni('DEL', pod).catch(() => undefined);
          await sleep(Math.min(500 * attempt, 3000));
        }
      }
      const ips = ((pod.cniResult?.ips as Array<{ address?: string }> | undefined) ?? []).map(
        (i) => (i.address ?? '').split('/')[0]!,
      );
      (pod as { ip: string }).ip = ips.find((a) => a.includes('.')) ?? '';
    }
    this.pods.set(key, pod);
    this.setStatus(pod, false);
    await this.startContainers(obj, pod, dir);
  }

  private setStatus(pod: RunningPod, ready: boolean): void {
    const cur = this.ctx.api.getObject('Pod', pod.name, pod.namespace);
    if (!cur || cur.metadata.uid !== pod.uid) return;
    const containers = [...pod.containers.entries()].map(([name, c]) => ({
      name,
      ready: ready && c.running,
      restartCount: c.restarts,
      started: c.running,
    }));
    const status = {
      phase: 'Running',
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      hostIP: this.node.nodeIp,
      hostIPs: [{ ip: this.node.nodeIp }],
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False' },
        { type: 'PodScheduled', status: 'True' },
      ],
      containerStatuses: containers,
    };
    if (JSON.stringify(cur.status) === JSON.stringify(status)) return;
    try {
      this.ctx.api.update({ ...cur, status });
    } catch {
      /* deleted meanwhile */
    }
  }

  private async startContainers(obj: FakeObject, pod: RunningPod, dir: string): Promise<void> {
    const spec = obj.spec as PodSpec;
    const volumes = await this.volumes(obj, pod, path.join(dir, 'volumes'));
    const hostsFile = path.join(dir, 'hosts');
    await writeFile(hostsFile, this.hostsFor(pod), { mode: 0o644 });
    const imageDir = path.join(dir, 'image');
    await mkdir(imageDir, { recursive: true });
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const image = imageFor(c.image);
      const command = [...(c.command ?? image?.entrypoint ?? []), ...(c.args ?? [])];
      if (command.length === 0)
        throw new Error(
          `container ${c.name} of ${pod.namespace}/${pod.name}: image ${c.image} has no known entrypoint`,
        );
      const mounts: Mount[] = [{ source: hostsFile, target: '/etc/hosts', readOnly: true }];
      for (const [target, content] of Object.entries(image?.files ?? {}))
        mounts.push({ source: await writeImageFile(imageDir, target, content), target, readOnly: true });
      if (image)
        mounts.push(
          { source: REPO, target: REPO, readOnly: true },
          { source: this.ctx.imageDist, target: path.join(REPO, 'dist'), readOnly: true },
        );
      for (const vm of c.volumeMounts ?? []) {
        const v = volumes.get(vm.name);
        if (!v)
          throw new Error(
            `container ${c.name} of ${pod.namespace}/${pod.name}: volumeMount ${vm.name} names no volume`,
          );
        mounts.push({
          source: vm.subPath ? path.join(v.source, vm.subPath) : v.source,
          target: vm.mountPath,
          readOnly: vm.readOnly === true || v.readOnly,
          recursive: v.hostPath,
        });
      }
      if (volumes.has('kube-api-access'))
        mounts.push({
          source: volumes.get('kube-api-access')!.source,
          target: '/var/run/secrets/kubernetes.io/serviceaccount',
          readOnly: true,
        });
      const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser ?? image?.uid ?? 0;
      const gid = c.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup ?? uid;
      const cdir = path.join(dir, 'containers', c.name);
      await mkdir(cdir, { recursive: true, mode: 0o755 });
      const container = new Container({
        id: `${pod.namespace}/${pod.name}/${c.name}`,
        netns: pod.netns,
        command,
        env: this.env(obj, pod, c),
        mounts,
        workdir: c.workingDir ?? image?.workdir ?? '/',
        uid,
        gid,
        readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true,
        dir: cdir,
        ...(c.securityContext?.privileged ? {} : { capabilities: capabilitiesOf(c.securityContext?.capabilities) }),
        ...(c.securityContext?.allowPrivilegeEscalation === false ? { noNewPrivs: true } : {}),
      });
      pod.containers.set(c.name, container);
      await container.start();
    }
  }

  private hostsFor(pod: RunningPod): string {
    return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n${pod.ip}\t${pod.name}\n${this.ctx.hosts()}`;
  }

  /** Keep every pod's /etc/hosts current (Services come and go). */
  async refreshHosts(): Promise<void> {
    for (const pod of this.pods.values()) {
      const file = path.join(this.ctx.dir, 'pods', `${pod.namespace}_${pod.name}`, 'hosts');
      // In place: the file is bind-mounted, a rename would leave the old one in the container.
      await writeFile(file, this.hostsFor(pod)).catch(() => undefined);
    }
  }

  private env(obj: FakeObject, pod: RunningPod, c: ContainerSpecK8s): Record<string, string> {
    const spec = obj.spec as PodSpec;
    const api = this.ctx.api;
    const env: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: pod.hostNetwork ? this.node.name : pod.name,
    };
    if (spec.enableServiceLinks !== false) {
      for (const svc of api.listObjects('Service', pod.namespace)) Object.assign(env, serviceLinkEnv(svc));
    }
    const k = { host: this.ctx.apiServer.host, port: String(this.ctx.apiServer.port) };
    Object.assign(env, {
      KUBERNETES_SERVICE_HOST: k.host,
      KUBERNETES_SERVICE_PORT: k.port,
      KUBERNETES_SERVICE_PORT_HTTPS: k.port,
      KUBERNETES_PORT: `tcp://${k.host}:${k.port}`,
      KUBERNETES_PORT_443_TCP: `tcp://${k.host}:${k.port}`,
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_ADDR: k.host,
      KUBERNETES_PORT_443_TCP_PORT: k.port,
    });
    const dataOf = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> | undefined => {
      const o = api.getObject(kind, name, pod.namespace);
      if (!o) return undefined;
      if (kind === 'ConfigMap') return (o.data as Record<string, string> | undefined) ?? {};
      return Object.fromEntries(
        Object.entries((o.data as Record<string, string> | undefined) ?? {}).map(([key, v]) => [
          key,
          Buffer.from(v, 'base64').toString('utf8'),
        ]),
      );
    };
    for (const from of c.envFrom ?? []) {
      const d = from.configMapRef
        ? dataOf('ConfigMap', from.configMapRef.name)
        : from.secretRef
          ? dataOf('Secret', from.secretRef.name)
          : undefined;
      for (const [key, v] of Object.entries(d ?? {})) env[`${from.prefix ?? ''}${key}`] = v;
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) {
        env[e.name] = expand(e.value, env);
        continue;
      }
      const vf = e.valueFrom ?? {};
      if (vf.fieldRef) env[e.name] = this.field(obj, pod, String(vf.fieldRef.fieldPath));
      else if (vf.configMapKeyRef)
        env[e.name] = dataOf('ConfigMap', String(vf.configMapKeyRef.name))?.[String(vf.configMapKeyRef.key)] ?? '';
      else if (vf.secretKeyRef)
        env[e.name] = dataOf('Secret', String(vf.secretKeyRef.name))?.[String(vf.secretKeyRef.key)] ?? '';
      else if (vf.resourceFieldRef) env[e.name] = '1';
      else env[e.name] = '';
    }
    return env;
  }

  private field(obj: FakeObject, pod: RunningPod, fieldPath: string): string {
    const spec = obj.spec as PodSpec;
    const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
    if (m) return ((obj.metadata[m[1]!] as Record<string, string> | undefined) ?? {})[m[2]!] ?? '';
    switch (fieldPath) {
      case 'metadata.name':
        return pod.name;
      case 'metadata.namespace':
        return pod.namespace;
      case 'metadata.uid':
        return pod.uid;
      case 'spec.nodeName':
        return this.node.name;
      case 'spec.serviceAccountName':
        return spec.serviceAccountName ?? 'default';
      case 'status.podIP':
      case 'status.podIPs':
        return pod.ip;
      case 'status.hostIP':
      case 'status.hostIPs':
        return this.node.nodeIp;
      default:
        throw new Error(`${pod.namespace}/${pod.name}: fieldRef ${fieldPath} is not supported by the Downward API`);
    }
  }

  // ---- volumes ----

  private async volumes(
    obj: FakeObject,
    pod: RunningPod,
    dir: string,
  ): Promise<Map<string, { source: string; readOnly: boolean; hostPath: boolean }>> {
    const spec = obj.spec as PodSpec;
    const out = new Map<string, { source: string; readOnly: boolean; hostPath: boolean }>();
    const sa = spec.serviceAccountName ?? 'default';
    const api = this.ctx.api;
    const wait = async (
      kind: 'ConfigMap' | 'Secret',
      name: string,
      optional: boolean,
    ): Promise<FakeObject | undefined> => {
      for (let i = 0; ; i++) {
        const o = api.getObject(kind, name, pod.namespace);
        if (o || optional) return o;
        if (i % 20 === 0)
          this.ctx.event(`kubelet ${this.node.name}: ${pod.namespace}/${pod.name} waits for ${kind} ${name}`);
        if (this.stopping) throw new Error('stopping');
        await sleep(250);
      }
    };
    const files = (
      kind: 'ConfigMap' | 'Secret',
      o: FakeObject | undefined,
      items?: Array<{ key: string; path: string }>,
    ): Record<string, string> => {
      const raw = (o?.data as Record<string, string> | undefined) ?? {};
      const data =
        kind === 'Secret'
          ? Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
          : { ...raw };
      if (!items) return data;
      return Object.fromEntries(items.filter((i) => data[i.key] !== undefined).map((i) => [i.path, data[i.key]!]));
    };
    const token = (audience: string | undefined, expirationSeconds: number | undefined): string =>
      api.mintToken({
        namespace: pod.namespace,
        serviceAccount: sa,
        pod: pod.name,
        ...(audience ? { audiences: [audience] } : {}),
        expirationSeconds: Math.max(expirationSeconds ?? 3607, 600),
      });
    type Source = { kind: 'ConfigMap' | 'Secret'; name: string; items?: Array<{ key: string; path: string }> };
    const watched: Array<{ vdir: string; sources: Source[] }> = [];
    for (const v of spec.volumes ?? []) {
      const vdir = path.join(dir, v.name);
      if (v.hostPath) {
        const hp = v.hostPath as { path: string; type?: string };
        const source = this.hostPath(hp.path);
        if (hp.type === 'DirectoryOrCreate') await mkdir(source, { recursive: true });
        out.set(v.name, { source, readOnly: false, hostPath: true });
        continue;
      }
      await mkdir(vdir, { recursive: true, mode: 0o777 });
      if (v.emptyDir) {
        await sh('chmod', ['0777', vdir]);
        out.set(v.name, { source: vdir, readOnly: false, hostPath: false });
        continue;
      }
      const sources: Source[] = [];
      const content: Record<string, string> = {};
      if (v.configMap || v.secret) {
        const kind = v.configMap ? 'ConfigMap' : 'Secret';
        const ref = (v.configMap ?? v.secret) as {
          name?: string;
          secretName?: string;
          optional?: boolean;
          items?: Array<{ key: string; path: string }>;
        };
        const name = ref.name ?? ref.secretName!;
        Object.assign(content, files(kind, await wait(kind, name, ref.optional === true), ref.items));
        sources.push({ kind, name, ...(ref.items ? { items: ref.items } : {}) });
      } else if (v.projected) {
        for (const s of (v.projected as { sources?: Array<Record<string, Record<string, unknown>>> }).sources ?? []) {
          if (s.serviceAccountToken) {
            const t = s.serviceAccountToken as { path: string; audience?: string; expirationSeconds?: number };
            content[t.path] = token(t.audience, t.expirationSeconds);
          } else if (s.configMap || s.secret) {
            const kind = s.configMap ? 'ConfigMap' : 'Secret';
            const ref = (s.configMap ?? s.secret) as {
              name: string;
              optional?: boolean;
              items?: Array<{ key: string; path: string }>;
            };
            Object.assign(content, files(kind, await wait(kind, ref.name, ref.optional === true), ref.items));
            sources.push({ kind, name: ref.name, ...(ref.items ? { items: ref.items } : {}) });
          } else if (s.downwardAPI) {
            for (const item of (s.downwardAPI as { items?: Array<{ path: string; fieldRef?: { fieldPath: string } }> })
              .items ?? []) {
              if (item.fieldRef) content[item.path] = this.field(obj, pod, item.fieldRef.fieldPath);
            }
          }
        }
      } else if (v.downwardAPI) {
        for (const item of (v.downwardAPI as { items?: Array<{ path: string; fieldRef?: { fieldPath: string } }> })
          .items ?? []) {
          if (item.fieldRef) content[item.path] = this.field(obj, pod, item.fieldRef.fieldPath);
        }
      } else {
        throw new Error(`${pod.namespace}/${pod.name}: volume ${v.name} has a type this kubelet does not support`);
      }
      await writeVolume(vdir, content);
      if (sources.length > 0) watched.push({ vdir, sources });
      out.set(v.name, { source: vdir, readOnly: true, hostPath: false });
    }
    // The API token every pod gets unless it opts out (the ServiceAccount admission plugin).
    const saObj = api.getObject('ServiceAccount', sa, pod.namespace);
    if (
      spec.automountServiceAccountToken !== false &&
      (saObj?.automountServiceAccountToken as boolean | undefined) !== false
    ) {
      const vdir = path.join(dir, 'kube-api-access');
      await mkdir(vdir, { recursive: true });
      await writeVolume(vdir, { token: token(undefined, 3607), 'ca.crt': api.caPem ?? '', namespace: pod.namespace });
      out.set('kube-api-access', { source: vdir, readOnly: true, hostPath: false });
    }
    if (watched.length > 0) {
      this.volumeWriters.push(async (changed) => {
        if (changed.metadata.namespace !== pod.namespace) return;
        for (const w of watched) {
          if (!w.sources.some((s) => s.kind === changed.kind && s.name === changed.metadata.name)) continue;
          const content: Record<string, string> = {};
          for (const s of w.sources)
            Object.assign(content, files(s.kind, api.getObject(s.kind, s.name, pod.namespace), s.items));
          await writeVolume(w.vdir, content);
        }
      });
    }
    return out;
  }

  // ---- readiness ----

  private async probeAll(): Promise<void> {
    for (const pod of this.pods.values()) {
      const obj = this.ctx.api.getObject('Pod', pod.name, pod.namespace);
      if (!obj) continue;
      const spec = obj.spec as PodSpec;
      let ready = true;
      for (const c of spec.containers) {
        const running = pod.containers.get(c.name)?.running === true;
        if (!running) {
          ready = false;
          break;
        }
        const probe = c.readinessProbe?.httpGet;
        if (!probe) continue;
        const port =
          typeof probe.port === 'number' ? probe.port : c.ports?.find((p) => p.name === probe.port)?.containerPort;
        if (!port) {
          ready = false;
          break;
        }
        try {
          const res = await fetch(`http://${pod.ip}:${port}${probe.path}`, { signal: AbortSignal.timeout(900) });
          if (res.status < 200 || res.status >= 400) ready = false;
          await res.arrayBuffer().catch(() => undefined);
        } catch {
          ready = false;
        }
      }
      if (pod.ready !== ready)
        this.ctx.event(`kubelet ${this.node.name}: ${pod.namespace}/${pod.name} ${ready ? 'ready' : 'not ready'}`);
      pod.ready = ready;
      this.setStatus(pod, ready);
    }
  }

  // ---- teardown ----

  async stopPod(key: string): Promise<void> {
    this.cancelled.add(key);
    await this.starting.get(key);
    const pod = this.pods.get(key);
    if (!pod) return;
    this.pods.delete(key);
    for (const c of [...pod.containers.values()].reverse()) await c.stop();
    if (!pod.hostNetwork) {
      await this.cni('DEL', pod).catch((err: unknown) =>
        this.problems.push(`CNI DEL ${key}: ${(err as Error).message}`),
      );
      await sh('ip', ['netns', 'del', pod.netns]);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.probeTimer) clearInterval(this.probeTimer);
    await Promise.all([...this.starting.values()]);
    // Application pods first, the node's own (host-network) pods last: the agent must see the DELs.
    const pods = [...this.pods.values()];
    const stopAll = (group: typeof pods) => Promise.all(group.map((p) => this.stopPod(podKey(p.namespace, p.name))));
    await stopAll(pods.filter((p) => !p.hostNetwork));
    await stopAll(pods.filter((p) => p.hostNetwork));
  }
}

/** What a container runtime (containerd's default set) grants, minus `drop`, plus `add`. */
const RUNTIME_DEFAULT_CAPS = [
  'chown',
  'dac_override',
  'fsetid',
  'fowner',
  'mknod',
  'net_raw',
  'setgid',
  'setuid',
  'setfcap',
  'setpcap',
  'net_bind_service',
  'sys_chroot',
  'kill',
  'audit_write',
];

function capabilitiesOf(c: { add?: string[]; drop?: string[] } | undefined): string[] {
  const norm = (x: string): string => x.toLowerCase().replace(/^cap_/, '');
  const drop = new Set((c?.drop ?? []).map(norm));
  const base = drop.has('all') ? [] : RUNTIME_DEFAULT_CAPS.filter((x) => !drop.has(x));
  return [...new Set([...base, ...(c?.add ?? []).map(norm)])];
}

/** Write a volume's files atomically (ConfigMap/Secret updates replace whole files). */
async function writeVolume(dir: string, content: Record<string, string>): Promise<void> {
  for (const [file, text] of Object.entries(content)) {
    const target = path.join(dir, file);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomBytes(3).toString('hex')}`;
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, target);
  }
  for (const f of await readdir(dir)) {
    if (!(f in content) && !Object.keys(content).some((k) => k.startsWith(f + '/')))
      await rm(path.join(dir, f), { recursive: true, force: true });
  }
}

/** $(VAR) references to earlier variables. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m);
}

/** Docker-link style variables of a Service, as the kubelet sets them (enableServiceLinks). */
export function serviceLinkEnv(svc: FakeObject): Record<string, string> {
  const spec = (svc.spec ?? {}) as {
    clusterIP?: string;
    ports?: Array<{ name?: string; port: number; protocol?: string }>;
  };
  if (!spec.clusterIP || spec.clusterIP === 'None' || !spec.ports?.length) return {};
  const base = svc.metadata.name.toUpperCase().replace(/-/g, '_');
  const out: Record<string, string> = {
    [`${base}_SERVICE_HOST`]: spec.clusterIP,
    [`${base}_SERVICE_PORT`]: String(spec.ports[0]!.port),
  };
  for (const p of spec.ports)
    if (p.name) out[`${base}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
  const first = spec.ports[0]!;
  out[`${base}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${spec.clusterIP}:${first.port}`;
  for (const p of spec.ports) {
    const proto = p.protocol ?? 'TCP';
    const pre = `${base}_PORT_${p.port}_${proto}`;
    Object.assign(out, {
      [pre]: `${proto.toLowerCase()}://${spec.clusterIP}:${p.port}`,
      [`${pre}_PROTO`]: proto.toLowerCase(),
      [`${pre}_PORT`]: String(p.port),
      [`${pre}_ADDR`]: spec.clusterIP,
    });
  }
  return out;
}
