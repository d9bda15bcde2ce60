// What `ambitctl local up` will run, computed from a folder of manifests without touching the
// machine: every Pod and every Deployment replica (`<deployment>-<i>`, the translator's
// naming) and every waypoint Gateway (a pod `<gateway>-waypoint`, see waypointPodOf) with its pod IP (pre-assigned from the pod CIDR and requested from host-local, so
// the controller knows each pod before its CNI ADD), the Service VIPs (the translator's own
// allocation, then pinned as clusterIP), the config folder the controller watches, and the
// /etc/hosts of the pods.
import path from 'node:path';
import { stringify } from 'yaml';
import { readManifests } from '../../controller/sources/file-read.js';
import type { KubeObject } from '../../controller/sources/types.js';
import { formatRejection, translate } from '../../controller/translate/index.js';
import { GATEWAY_NAME_LABEL, isWaypointGateway, WORKLOAD_NAME_LABEL } from '../../core/mesh/vocabulary.js';
import { isOutsideHost, outsideHostOf, type OutsideHost } from './outside-hosts.js';
import { AmbitError } from '../../core/errors.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { ipv4Cidr, ipv4ToString } from './cidr.js';
import { gatewayPodSources, type LocalGateway } from './gateways.js';
import type { RestartPolicy } from './supervisor.js';

export interface ContainerSpec {
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface PlannedPod {
  readonly namespace: string;
  readonly name: string;
  /** `Pod/<ns>/<name>`: the translator's workload uid. */
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  readonly ip: string;
  readonly container: ContainerSpec | undefined;
  /** Whether the mesh captures this pod (ambient namespace, no opt-out). */
  readonly enrolled: boolean;
  readonly identity: string;
  /** The pod runs this waypoint Gateway (`local up` starts ambit-waypoint in it); `replica` 0, 1, … */
  readonly waypoint?: { readonly gateway: string; readonly replica: number };
  /** An Istio ingress/egress gateway pod (gateways.ts): ambit-waypoint runs in that mode. */
  readonly gateway?: LocalGateway;
  /** What `local up` does when the pod's command exits (a Pod's spec.restartPolicy; Deployments: Always). */
  readonly restartPolicy: RestartPolicy;
}

export interface PlanOptions {
  /** Pod CIDR (IPv4); the bridge takes the first address. Default 10.244.0.0/16. */
  readonly podCidr?: string;
  readonly nodeName?: string;
  readonly trustDomain?: string;
  /** Objects added to DIR's (the live view's traffic generator pod). */
  readonly extraObjects?: readonly KubeObject[];
}

export interface LocalPlan {
  readonly dir: string;
  readonly podCidr: string;
  readonly gateway: string;
  readonly nodeName: string;
  readonly pods: readonly PlannedPod[];
  /** Generated config files (relative path → YAML), mirroring DIR's files. */
  readonly files: ReadonlyMap<string, string>;
  readonly snapshot: MeshSnapshot;
  /** Service FQDN → VIPs, for /etc/hosts. */
  readonly serviceVips: ReadonlyArray<{ namespace: string; name: string; hostname: string; vips: readonly string[] }>;
  readonly problems: readonly string[];
  /** Waypoints of several replicas: the address they share (a balancer's, see waypoint-balancer.ts). */
  readonly waypointAddresses: ReadonlyArray<{ namespace: string; gateway: string; address: string }>;
  /** Pods that stand for hosts outside the mesh (outside-hosts.ts): never shown to the controller. */
  readonly outsideHosts: readonly OutsideHost[];
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const labelsOf = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(rec(v)).map(([k, x]) => [k, String(x)]));

function containerOf(podSpec: Rec, where: string): ContainerSpec | undefined {
  const containers = Array.isArray(podSpec.containers) ? podSpec.containers.map(rec) : [];
  const c = containers[0];
  if (!c) return undefined;
  const command = [...strings(c.command), ...strings(c.args)];
  if (command.length === 0) {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `${where}: spec.containers[0].command: empty (local mode runs the command on this machine; the image is ignored)`,
    );
  }
  const env: Record<string, string> = {};
  for (const e of Array.isArray(c.env) ? c.env.map(rec) : []) {
    if (typeof e.name === 'string') env[e.name] = e.value === undefined ? '' : String(e.value);
  }
  return { command, env };
}

interface PodSource {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  serviceAccount: string;
  container: ContainerSpec | undefined;
  fixedIp?: string;
  waypoint?: { gateway: string; replica: number };
  gateway?: LocalGateway;
  restartPolicy?: RestartPolicy;
}

const RESTART_POLICIES: readonly RestartPolicy[] = ['Always', 'OnFailure', 'Never'];

function restartPolicyOf(spec: Rec, where: string): RestartPolicy {
  const v = spec.restartPolicy ?? 'Always';
  if (!RESTART_POLICIES.includes(v as RestartPolicy)) {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `${where}: spec.restartPolicy: "${String(v)}" is not one of ${RESTART_POLICIES.join(', ')}`,
    );
  }
  return v as RestartPolicy;
}

/** Local mode: how many waypoint pods run a Gateway (1–10, default 1); past 1 they share an address (waypoint-balancer.ts). */
export const WAYPOINT_REPLICAS_ANNOTATION = 'ambit.dev/waypoint-replicas';
/** Istio's annotation choosing the waypoint's service account (default: the Gateway's name). */
export const SERVICE_ACCOUNT_ANNOTATION = 'gateway.istio.io/service-account';

/**
 * A Gateway of class ambit-waypoint: the pod `<gateway>-waypoint` that runs it, as the
 * controller's reconciler would create in a cluster (gateway-name label, the Gateway's service
 * account), never captured itself (`mesh-mode: none`).
 */
function waypointPodsOf(obj: KubeObject): PodSource[] {
  if (!isWaypointGateway(obj)) return [];
  const gateway = obj.metadata.name;
  const replicas = waypointReplicasOf(obj);
  return Array.from({ length: replicas }, (_, replica) => ({
    namespace: obj.metadata.namespace ?? 'default',
    name: replica === 0 ? `${gateway}-waypoint` : `${gateway}-waypoint-${replica}`,
    labels: { [GATEWAY_NAME_LABEL]: gateway, 'mesh-mode': 'none' },
    serviceAccount: obj.metadata.annotations?.[SERVICE_ACCOUNT_ANNOTATION] ?? gateway,
    container: undefined,
    waypoint: { gateway, replica },
  }));
}

export function waypointReplicasOf(obj: KubeObject): number {
  const text = obj.metadata.annotations?.[WAYPOINT_REPLICAS_ANNOTATION];
  if (text === undefined) return 1;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10) {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `Gateway/${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}: metadata.annotations.${WAYPOINT_REPLICAS_ANNOTATION}: "${text}" is not a whole number from 1 to 10`,
    );
  }
  return n;
}

function podsOf(obj: KubeObject): PodSource[] {
  const wps = waypointPodsOf(obj);
  if (wps.length > 0) return wps;
  const ns = obj.metadata.namespace ?? 'default';
  const where = `${obj.kind}/${ns}/${obj.metadata.name}`;
  if (obj.kind === 'Pod') {
    const spec = rec(obj.spec);
    const fixedIp = rec(obj.status).podIP;
    return [
      {
        namespace: ns,
        name: obj.metadata.name,
        labels: labelsOf(obj.metadata.labels),
        serviceAccount: String(spec.serviceAccountName ?? spec.serviceAccount ?? 'default'),
        container: containerOf(spec, where),
        ...(typeof fixedIp === 'string' ? { fixedIp } : {}),
        restartPolicy: restartPolicyOf(spec, where),
      },
    ];
  }
  if (obj.kind === 'Deployment') {
    const spec = rec(obj.spec);
    const template = rec(spec.template);
    const tspec = rec(template.spec);
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const container = containerOf(tspec, where);
    return Array.from({ length: replicas }, (_, i) => ({
      namespace: ns,
      name: `${obj.metadata.name}-${i}`,
      labels: { [WORKLOAD_NAME_LABEL]: obj.metadata.name, ...labelsOf(rec(template.metadata).labels) },
      serviceAccount: String(tspec.serviceAccountName ?? 'default'),
      container,
    }));
  }
  return [];
}

/**
 * A pod added to a running plan (`local up`'s pod replacement): `obj` is a Pod, given `ip`;
 * enrolled like the pods of its namespace; identity from its service account.
 */
export function planAddedPod(
  obj: KubeObject,
  ip: string,
  enrolled: boolean,
  trustDomain = 'cluster.local',
): PlannedPod {
  const [p] = obj.kind === 'Pod' ? podsOf(obj) : [];
  if (!p) throw new AmbitError('AMBIT_E_CONFIG', `${obj.kind}/${obj.metadata.name}: expected a Pod`);
  return {
    namespace: p.namespace,
    name: p.name,
    uid: `Pod/${p.namespace}/${p.name}`,
    labels: p.labels,
    serviceAccount: p.serviceAccount,
    ip,
    container: p.container,
    enrolled,
    identity: `spiffe://${trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount}`,
    restartPolicy: p.restartPolicy ?? 'Always',
  };
}

/** The Pod object the controller sees for a planned pod. */
export function podObject(p: PlannedPod, nodeName: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: { ...p.labels } },
    spec: { serviceAccountName: p.serviceAccount, nodeName, containers: [{ name: 'app', image: 'local' }] },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
  };
}

/** Reads DIR and computes the plan; throws AmbitError naming the file/object on bad input. */
export async function planLocal(dir: string, opts: PlanOptions = {}): Promise<LocalPlan> {
  const root = path.resolve(dir);
  const read = await readManifests(root).catch((err: NodeJS.ErrnoException) => {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `${root}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
    );
  });
  if (read.problems.length > 0)
    throw new AmbitError('AMBIT_E_CONFIG', read.problems.map((p) => p.message).join('; '), {
      hint: 'fix the YAML; `ambitctl analyze -f DIR` lists every problem',
    });
  for (const o of opts.extraObjects ?? [])
    read.documents.push({ object: o, origin: { file: path.join(root, 'zz-local-extra.yaml') } });
  const cidr = ipv4Cidr(opts.podCidr ?? '10.244.0.0/16');
  const nodeName = opts.nodeName ?? 'local';

  // Pods in a stable order; fixed IPs (status.podIP) are honoured, the rest take the next free address.
  const outsideHosts = read.documents.filter((d) => isOutsideHost(d.object)).map((d) => outsideHostOf(d.object));
  for (const h of outsideHosts) {
    const n = cidr.parse(h.address);
    if (n !== undefined && cidr.contains(n))
      throw new AmbitError(
        'AMBIT_E_CONFIG',
        `Pod/${h.namespace}/${h.name}: ${h.address} is inside the pod CIDR ${cidr.text}`,
      );
  }
  read.documents = read.documents.filter((d) => !isOutsideHost(d.object));
  const sources = read.documents.flatMap((d) => podsOf(d.object).map((p) => ({ p, file: d.origin.file ?? '' })));
  for (const p of gatewayPodSources(read.documents.map((d) => d.object))) sources.push({ p, file: '' });
  sources.sort((a, b) => `${a.p.namespace}/${a.p.name}`.localeCompare(`${b.p.namespace}/${b.p.name}`));
  const seen = new Set<string>();
  const used = new Set<number>([cidr.network, cidr.network + 1, cidr.broadcast]);
  for (const { p } of sources) {
    const key = `${p.namespace}/${p.name}`;
    if (seen.has(key))
      throw new AmbitError(
        'AMBIT_E_CONFIG',
        `Pod/${key}: defined twice (a Pod and a Deployment replica share the name?)`,
      );
    seen.add(key);
    if (p.fixedIp) {
      const n = cidr.parse(p.fixedIp);
      if (n === undefined || !cidr.contains(n))
        throw new AmbitError(
          'AMBIT_E_CONFIG',
          `Pod/${key}: status.podIP: ${p.fixedIp} is not in the pod CIDR ${cidr.text}`,
        );
      used.add(n);
    }
  }
  let next = cidr.network + 2;
  const assign = (): string => {
    while (used.has(next)) next++;
    if (next >= cidr.broadcast) throw new AmbitError('AMBIT_E_CONFIG', `pod CIDR ${cidr.text} exhausted`);
    used.add(next);
    return ipv4ToString(next);
  };
  const planned = sources.map(({ p }) => ({ ...p, ip: p.fixedIp ?? assign() }));
  const waypointAddresses = read.documents
    .map((d) => d.object)
    .filter((g) => waypointPodsOf(g).length > 1)
    .map((g) => ({ namespace: g.metadata.namespace ?? 'default', gateway: g.metadata.name, address: assign() }));
  // The controller hands that shared address to the agents as the waypoint's (Gateway status).
  const pinGateway = (o: KubeObject): KubeObject => {
    const shared = waypointAddresses.find(
      (w) =>
        o.kind === 'Gateway' && w.namespace === (o.metadata.namespace ?? 'default') && w.gateway === o.metadata.name,
    );
    return shared
      ? { ...o, status: { ...rec(o.status), addresses: [{ type: 'IPAddress', value: shared.address }] } }
      : o;
  };

  // The controller's view: the user's objects with Pods/Deployments replaced by the planned Pods.
  const podObjects = planned.map((p) =>
    podObject({ ...p, uid: '', enrolled: false, identity: '', restartPolicy: p.restartPolicy ?? 'Always' }, nodeName),
  );
  const others = read.documents.filter((d) => d.object.kind !== 'Pod' && d.object.kind !== 'Deployment');
  const first = translate([...others.map((d) => d.object), ...podObjects], {
    defaultNode: nodeName,
    ...(opts.trustDomain ? { mesh: { trustDomain: opts.trustDomain } } : {}),
  });
  const vipOf = new Map(first.snapshot.services.map((s) => [`${s.namespace}/${s.name}`, s.vips] as const));
  const pinService = (o: KubeObject): KubeObject => {
    if (o.kind !== 'Service') return o;
    const spec = rec(o.spec);
    const vips = vipOf.get(`${o.metadata.namespace ?? 'default'}/${o.metadata.name}`) ?? [];
    if (spec.clusterIP || vips.length === 0) return o;
    return { ...o, spec: { ...spec, clusterIP: vips[0] } };
  };

  const byFile = new Map<string, KubeObject[]>();
  for (const d of others) {
    const rel =
      path.relative(root, d.origin.file ?? path.join(root, 'objects.yaml')) ||
      path.basename(d.origin.file ?? 'objects.yaml');
    const list = byFile.get(rel) ?? [];
    list.push(pinGateway(pinService(d.object)));
    byFile.set(rel, list);
  }
  const files = new Map<string, string>();
  for (const [rel, objs] of byFile) files.set(rel, objs.map((o) => stringify(o)).join('---\n'));
  files.set('zz-local-pods.yaml', podObjects.map((o) => stringify(o)).join('---\n'));

  const workloads = new Map(first.snapshot.workloads.map((w) => [w.uid, w] as const));
  const pods: PlannedPod[] = planned.map((p) => {
    const uid = `Pod/${p.namespace}/${p.name}`;
    const w = workloads.get(uid);
    return {
      namespace: p.namespace,
      name: p.name,
      uid,
      labels: p.labels,
      serviceAccount: p.serviceAccount,
      ip: p.ip,
      container: p.container,
      enrolled: w?.enrolled ?? false,
      identity: w?.identity ?? '',
      ...(p.waypoint ? { waypoint: p.waypoint } : {}),
      ...(p.gateway ? { gateway: p.gateway } : {}),
      restartPolicy: p.restartPolicy ?? 'Always',
    };
  });
  const serviceVips = first.snapshot.services
    .filter((s) => s.vips.length > 0 && !s.external)
    .map((s) => ({ namespace: s.namespace, name: s.name, hostname: s.hostname, vips: s.vips }));
  return {
    dir: root,
    podCidr: cidr.text,
    gateway: ipv4ToString(cidr.network + 1),
    nodeName,
    pods,
    files,
    snapshot: first.snapshot,
    serviceVips,
    problems: first.rejected.map(formatRejection),
    waypointAddresses,
    outsideHosts,
  };
}

/** /etc/hosts for a pod: localhost, itself, and every Service (short names for its own namespace). */
export function hostsFileFor(
  plan: Pick<LocalPlan, 'serviceVips'>,
  pod: Pick<PlannedPod, 'namespace' | 'name' | 'ip'>,
): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${pod.ip}\t${pod.name}`];
  for (const s of plan.serviceVips) {
    const names = new Set([s.hostname, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`]);
    if (s.namespace === pod.namespace) names.add(s.name);
    for (const vip of s.vips) lines.push(`${vip}\t${[...names].join(' ')}`);
  }
  return `# written by ambitctl local: Services of the local mesh\n${lines.join('\n')}\n`;
}
