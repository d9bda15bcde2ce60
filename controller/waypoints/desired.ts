// What should exist for each waypoint Gateway (gateway.networking.k8s.io/v1, class
// `ambit-waypoint`): a ServiceAccount (the waypoint's identity), and the Deployment and
// Service of the chart's template ConfigMap `ambit-waypoint-template` with GATEWAY_NAME,
// GATEWAY_NAMESPACE and SERVICE_ACCOUNT filled in. Every object carries our managed-by label,
// the gateway-name label and an owner reference to its Gateway (so Kubernetes' garbage
// collector removes it too if the controller is down when the Gateway goes), plus a hash of
// its content so the apply loop replaces only what changed. Pure: no I/O.
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { KubeObject } from '../sources/types.js';
import { GATEWAY_NAME_LABEL, isWaypointGateway } from '../../core/mesh/vocabulary.js';

export { GATEWAY_NAME_LABEL, isWaypointGateway } from '../../core/mesh/vocabulary.js';
export const TEMPLATE_CONFIGMAP = 'ambit-waypoint-template';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ambit-controller';
export const HASH_ANNOTATION = 'ambit.io/waypoint-hash';
/** Istio's annotation to choose the waypoint's service account (default: the Gateway's name). */
export const SERVICE_ACCOUNT_ANNOTATION = 'gateway.istio.io/service-account';

/** The kinds we create, in creation order (the Deployment needs its ServiceAccount). */
export const MANAGED_KINDS = [
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
] as const;

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<Record<string, unknown>>;
    resourceVersion?: string;
    uid?: string;
    [k: string]: unknown;
  };
  [field: string]: unknown;
}

export interface WaypointTemplate {
  readonly deployment: string;
  readonly service: string;
}

export interface WaypointProblem {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly field?: string;
  readonly reason: string;
}

export function formatProblem(p: WaypointProblem): string {
  return `${p.kind}/${p.namespace ? `${p.namespace}/` : ''}${p.name}: ${p.field ? `${p.field}: ` : ''}${p.reason}`;
}

/** The template from the ConfigMap's data; a problem names the missing key. */
export function templateFromConfigMap(cm: {
  metadata: { name: string; namespace?: string };
  data?: unknown;
}): WaypointTemplate | WaypointProblem {
  const data = mapping(cm.data) ?? {};
  for (const key of ['deployment.yaml', 'service.yaml']) {
    if (typeof data[key] !== 'string' || !data[key]) {
      return {
        kind: 'ConfigMap',
        namespace: cm.metadata.namespace,
        name: cm.metadata.name,
        field: `data.${key}`,
        reason: 'missing: the waypoint template needs deployment.yaml and service.yaml',
      };
    }
  }
  return { deployment: data['deployment.yaml'] as string, service: data['service.yaml'] as string };
}

/** A mapping of the template's ConfigMap or of a parsed template document (free-form input, not a mesh kind). */
function mapping(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Readonly<Record<string, unknown>>)
    : undefined;
}

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const PLACEHOLDER = /\b(GATEWAY_NAME|GATEWAY_NAMESPACE|SERVICE_ACCOUNT)\b/g;

/** Replace the placeholders in every string (keys and values) of a parsed document. */
function fill(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(PLACEHOLDER, (m) => vars[m] ?? m);
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [fill(k, vars) as string, fill(v, vars)]));
  }
  return value;
}

/** sha256 of the object as we want it (without the hash annotation itself). */
export function contentHash(obj: Manifest): string {
  return createHash('sha256').update(JSON.stringify(obj)).digest('hex').slice(0, 32);
}

function finish(obj: Manifest, gw: KubeObject): Manifest {
  const name = gw.metadata.name;
  const out: Manifest = {
    ...obj,
    metadata: {
      ...obj.metadata,
      name: obj.metadata.name,
      namespace: gw.metadata.namespace,
      labels: { ...obj.metadata.labels, [GATEWAY_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY },
      ownerReferences: [
        { apiVersion: gw.apiVersion, kind: 'Gateway', name, uid: gw.metadata.uid ?? '', controller: true },
      ],
    },
  };
  out.metadata.annotations = { ...obj.metadata.annotations, [HASH_ANNOTATION]: contentHash(out) };
  return out;
}

function renderDocument(text: string, want: string, vars: Record<string, string>, gw: KubeObject): Manifest | string {
  let doc: unknown;
  try {
    doc = fill(parse(text), vars);
  } catch (err) {
    return `the template's ${want} is not valid YAML: ${(err as Error).message.split('\n')[0]}`;
  }
  const m = mapping(doc);
  const meta = mapping(m?.metadata);
  if (!m || m.kind !== want || !meta || typeof meta.name !== 'string')
    return `the template's document is not a ${want} with metadata.name`;
  if (meta.name !== gw.metadata.name) return `the template's ${want} must be named GATEWAY_NAME (got ${meta.name})`;
  return finish(m as Manifest, gw);
}

/** Desired objects for one Gateway, or a problem naming the Gateway and field. */
export function desiredForGateway(gw: KubeObject, template: WaypointTemplate): Manifest[] | WaypointProblem {
  const { name, namespace } = gw.metadata;
  const problem = (field: string, reason: string): WaypointProblem => ({
    kind: 'Gateway',
    namespace,
    name,
    field,
    reason,
  });
  if (!namespace) return problem('metadata.namespace', 'a waypoint Gateway must be namespaced');
  if (!gw.metadata.uid)
    return problem('metadata.uid', 'missing (needed for the owner references of what the controller creates)');
  if (!DNS_LABEL.test(name))
    return problem('metadata.name', 'must be a DNS label (lower case, ≤ 63 characters): it names the waypoint Service');
  const sa = gw.metadata.annotations?.[SERVICE_ACCOUNT_ANNOTATION] ?? name;
  if (!DNS_SUBDOMAIN.test(sa))
    return problem(`metadata.annotations[${SERVICE_ACCOUNT_ANNOTATION}]`, `not a valid ServiceAccount name: ${sa}`);
  const vars = { GATEWAY_NAME: name, GATEWAY_NAMESPACE: namespace, SERVICE_ACCOUNT: sa };
  const out: Manifest[] = [
    finish({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, labels: {} } }, gw),
  ];
  for (const [text, want] of [
    [template.service, 'Service'],
    [template.deployment, 'Deployment'],
  ] as const) {
    const r = renderDocument(text, want, vars, gw);
    if (typeof r === 'string')
      return { kind: 'ConfigMap', name: TEMPLATE_CONFIGMAP, reason: `${r} (for Gateway ${namespace}/${name})` };
    out.push(r);
  }
  return out;
}

export interface DesiredState {
  /** By `kind/namespace/name`. */
  readonly objects: ReadonlyMap<string, Manifest>;
  readonly problems: readonly WaypointProblem[];
  /** `namespace/name` of every waypoint Gateway that produced objects. */
  readonly gateways: readonly string[];
}

export const manifestKey = (m: { kind: string; metadata: { name: string; namespace?: string } }): string =>
  `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;

/** Desired objects for every waypoint Gateway among `objects` (other objects are ignored). */
export function desiredState(
  objects: readonly KubeObject[],
  template: WaypointTemplate,
  classes?: readonly string[],
): DesiredState {
  const out = new Map<string, Manifest>();
  const problems: WaypointProblem[] = [];
  const gateways: string[] = [];
  const gws = objects.filter((o) => isWaypointGateway(o, classes));
  gws.sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  for (const gw of gws) {
    const r = desiredForGateway(gw, template);
    if (!Array.isArray(r)) {
      problems.push(r);
      continue;
    }
    const clash = r.find((m) => out.has(manifestKey(m)));
    if (clash) {
      problems.push({
        kind: 'Gateway',
        namespace: gw.metadata.namespace,
        name: gw.metadata.name,
        reason: `${manifestKey(clash)} is already created for another waypoint Gateway`,
      });
      continue;
    }
    for (const m of r) out.set(manifestKey(m), m);
    gateways.push(`${gw.metadata.namespace}/${gw.metadata.name}`);
  }
  return { objects: out, problems, gateways };
}
