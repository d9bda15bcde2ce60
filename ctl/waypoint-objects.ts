// The objects `ambitctl waypoint` writes: a Gateway API Gateway of class `ambit-waypoint`
// with one HBONE listener on 15008 (as Istio's waypoints), and the namespace label
// `mesh-waypoint=<name>` that sends the namespace's traffic through it. Pure.

import {
  isWaypointGateway,
  USE_WAYPOINT_LABELS,
  USE_WAYPOINT_NAMESPACE_LABEL,
  useWaypointOf,
  WAYPOINT_CLASS,
} from '../core/mesh/vocabulary.js';

/** Ours first; Istio's alias is read by the controller and removed by `waypoint delete` too. */
export const WAYPOINT_LABELS = USE_WAYPOINT_LABELS;
export const DEFAULT_WAYPOINT_NAME = 'waypoint';

export interface GatewayObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { gatewayClassName?: string; [k: string]: unknown };
  status?: { addresses?: Array<{ value?: string }>; conditions?: Array<{ type?: string; status?: string }> };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Throws a message naming the option when a name cannot be a Kubernetes name (and a Service name). */
export function checkName(what: string, value: string): string {
  if (!DNS_LABEL.test(value))
    throw new Error(
      `${what} "${value}" is not a valid name: lower-case letters, digits and '-', at most 63 characters`,
    );
  return value;
}

export function waypointGateway(
  namespace: string,
  name: string,
): Required<Pick<GatewayObject, 'apiVersion' | 'kind' | 'metadata' | 'spec'>> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'ambit' } },
    spec: { gatewayClassName: WAYPOINT_CLASS, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
}

export interface WaypointSummary {
  readonly namespace: string;
  readonly name: string;
  /** Namespaces whose label points at this waypoint. */
  readonly usedBy: string[];
  readonly address: string;
  readonly programmed: string;
  /** A running `ambitctl local` mesh: where the waypoint's admin endpoints and /metrics are. */
  readonly admin?: string;
}

/** Waypoint Gateways among `objects`, with the namespaces labelled to use them. */
export function summarize(objects: readonly GatewayObject[]): WaypointSummary[] {
  const users = new Map<string, string[]>();
  for (const o of objects) {
    if (o.kind !== 'Namespace' || !o.metadata?.name) continue;
    const target = useWaypointOf(o.metadata?.labels);
    if (!target || target === 'none') continue;
    const key = `${o.metadata.labels?.[USE_WAYPOINT_NAMESPACE_LABEL] ?? o.metadata.name}/${target}`;
    users.set(key, [...(users.get(key) ?? []), o.metadata.name]);
  }
  return objects
    .filter((o) => isWaypointGateway(o))
    .map((o) => {
      const namespace = o.metadata?.namespace ?? 'default';
      const name = o.metadata?.name ?? '';
      const cond = o.status?.conditions?.find((c) => c.type === 'Programmed');
      return {
        namespace,
        name,
        usedBy: (users.get(`${namespace}/${name}`) ?? []).sort(),
        address: o.status?.addresses?.map((a) => a.value).find((v) => !!v) ?? '',
        programmed: cond?.status ?? '',
      };
    })
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** A plain table, columns padded, '-' for empty cells. */
export function formatTable(rows: readonly WaypointSummary[]): string {
  const local = rows.some((r) => r.admin !== undefined);
  const cells = [
    ['NAMESPACE', 'NAME', 'USED BY', 'ADDRESS', 'PROGRAMMED', ...(local ? ['ADMIN/METRICS'] : [])],
    ...rows.map((r) => [
      r.namespace,
      r.name,
      r.usedBy.join(',') || '-',
      r.address || '-',
      r.programmed || '-',
      ...(local ? [r.admin ?? '-'] : []),
    ]),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return (
    cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]! + 2))).join('')).join('\n') + '\n'
  );
}
