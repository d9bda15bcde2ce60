// Istio's standard metric labels (CONTRACT.md, Metrics), built from mesh model objects.
// Values come from bounded sets (workloads, services, status codes): pod names, IPs and paths
// never become label values. `source_workload`/`destination_workload` are the owning
// workload's name (a Deployment's pods share it), as in Istio.
import type { Labels, Service, Workload } from '../model/types.js';
import { canonicalNameOf, canonicalRevisionOf, WORKLOAD_NAME_LABEL } from '../mesh/vocabulary.js';

export const UNKNOWN = 'unknown';

/** Labels shared by the TCP and HTTP metrics (Istio puts `response_code` on HTTP only). */
export const TCP_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_version',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export const HTTP_LABEL_NAMES = [...TCP_LABEL_NAMES, 'response_code'] as const;

export type TcpLabelName = (typeof TCP_LABEL_NAMES)[number];
export type HttpLabelName = (typeof HTTP_LABEL_NAMES)[number];
export type TcpLabels = Record<TcpLabelName, string>;
export type HttpLabels = Record<HttpLabelName, string>;

export type Reporter = 'source' | 'destination' | 'waypoint';
export type SecurityPolicy = 'mutual_tls' | 'none';

/** One side of a connection as telemetry needs it. */
export interface PeerInfo {
  readonly workload?: string;
  readonly namespace?: string;
  /** `spiffe://td/ns/x/sa/y` */
  readonly principal?: string;
  readonly app?: string;
  readonly version?: string;
}

export interface ServiceInfo {
  /** FQDN, e.g. payment-service.coffee-shop.svc.cluster.local */
  readonly hostname?: string;
  readonly name?: string;
  readonly namespace?: string;
}

type WorkloadLike = Pick<Workload, 'name' | 'namespace' | 'identity' | 'labels'> &
  Partial<Pick<Workload, 'canonicalName' | 'canonicalRevision' | 'kind' | 'workloadName'>>;

// <deployment>-<replicaset hash>-<pod suffix>, the shape Kubernetes gives Deployment pods.
const DEPLOYMENT_POD = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/;

/**
 * The owning workload name of a pod: what the controller derived from its owner (the model's
 * `workloadName`), else Istio's label, else its Deployment when the pod name has that shape.
 */
export function workloadNameOf(w: Pick<Workload, 'name' | 'labels'> & Partial<Pick<Workload, 'workloadName'>>): string {
  if (w.workloadName) return w.workloadName;
  const fromLabel = w.labels[WORKLOAD_NAME_LABEL];
  if (fromLabel) return fromLabel;
  const m = DEPLOYMENT_POD.exec(w.name);
  return m ? m[1]! : w.name;
}

const appOf = (labels: Labels): string | undefined => canonicalNameOf(labels);
const versionOf = (labels: Labels): string | undefined => canonicalRevisionOf(labels);

export function peerFromWorkload(w: WorkloadLike): PeerInfo {
  const workload = workloadNameOf(w);
  return {
    workload,
    namespace: w.namespace,
    principal: w.identity,
    app: w.canonicalName ?? appOf(w.labels) ?? workload,
    version: w.canonicalRevision ?? versionOf(w.labels) ?? 'latest',
  };
}

/**
 * A waypoint as the destination of the agent's hop to it: Istio names a waypoint's workload
 * after its Gateway (the Deployment it creates has the Gateway's name).
 */
export function peerFromWaypoint(ref: { name: string; namespace: string; identity: string }): PeerInfo {
  return { workload: ref.name, namespace: ref.namespace, principal: ref.identity, app: ref.name, version: 'latest' };
}

export function serviceInfo(s: Pick<Service, 'hostname' | 'name' | 'namespace'>): ServiceInfo {
  return { hostname: s.hostname, name: s.name, namespace: s.namespace };
}

export interface LabelInput {
  readonly reporter: Reporter;
  readonly source?: PeerInfo;
  readonly destination?: PeerInfo;
  readonly service?: ServiceInfo;
  readonly securityPolicy: SecurityPolicy;
  /** `tcp`, `http`, `grpc`; default `tcp`. */
  readonly protocol?: string;
  /** Envoy-style flags (`-`, `UH`, `UO`, `DENY`…); default `-`. */
  readonly responseFlags?: string;
}

const v = (s: string | undefined): string => (s === undefined || s === '' ? UNKNOWN : s);

export function tcpLabels(i: LabelInput): TcpLabels {
  const s = i.source;
  const d = i.destination;
  return {
    reporter: i.reporter,
    source_workload: v(s?.workload),
    source_workload_namespace: v(s?.namespace),
    source_principal: v(s?.principal),
    source_app: v(s?.app),
    source_version: v(s?.version),
    destination_workload: v(d?.workload),
    destination_workload_namespace: v(d?.namespace),
    destination_principal: v(d?.principal),
    destination_service: v(i.service?.hostname),
    destination_service_name: v(i.service?.name),
    destination_service_namespace: v(i.service?.namespace),
    destination_version: v(d?.version),
    request_protocol: i.protocol ?? 'tcp',
    response_flags: i.responseFlags ?? '-',
    connection_security_policy: i.securityPolicy,
  };
}

export function httpLabels(i: LabelInput & { responseCode: number }): HttpLabels {
  return { ...tcpLabels({ ...i, protocol: i.protocol ?? 'http' }), response_code: String(i.responseCode) };
}
