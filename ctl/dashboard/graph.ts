// The service graph from Istio's metrics: what the waypoints report per request
// (istio_requests_total, istio_request_duration_milliseconds) and what the agents report per
// connection (istio_tcp_*), as counter increases over a window (window.ts, or Prometheus's
// increase()). Nodes are workloads, services and waypoints, each inside its namespace's
// compound node; an edge goes from a calling workload to a service (or to a workload when no
// service is known) and from a service to the workloads that answered. Traffic relayed by a
// waypoint carries `via`: the page draws the edge through the waypoint's node.
import type { Sample, Samples } from './metrics-text.js';
import type { Deltas } from './window.js';

export type NodeType = 'namespace' | 'workload' | 'service' | 'waypoint' | 'unknown';

export interface GraphNode {
  readonly id: string;
  readonly type: NodeType;
  readonly label: string;
  readonly namespace?: string;
  /** The compound (namespace) node. */
  readonly parent?: string;
  readonly app?: string;
  readonly version?: string;
}

export interface GraphEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** The waypoint node the traffic went through. */
  readonly via?: string;
  readonly protocol: 'http' | 'tcp';
  /** Requests (HTTP) or connections opened (TCP) per second over the window. */
  readonly rps: number;
  /** Share of requests answered 4xx or 5xx, 0..1 (0 for TCP). */
  readonly errorRate: number;
  /** 99th percentile of request duration (HTTP), else null. */
  readonly p99Ms: number | null;
  /** Every request or connection of the edge was mutual TLS. */
  readonly mtls: boolean;
  /** Requests denied by policy in the window (403 at a waypoint). */
  readonly denied: number;
  /** Requests (HTTP) or connections (TCP) in the window. */
  readonly total: number;
  readonly codes: Readonly<Record<string, number>>;
  readonly bytesPerSec: number;
}

export interface Graph {
  readonly nodes: GraphNode[];
  readonly edges: GraphEdge[];
  readonly windowSeconds: number;
  /** Connections the agents refused in the window, by reason (their metric has no peer labels). */
  readonly l4Denied: Readonly<Record<string, number>>;
}

/** What the mesh holds, from the agents' and waypoints' config dumps (optional: metrics alone draw a graph). */
export interface Topology {
  readonly workloads: ReadonlyArray<{
    namespace: string;
    name: string;
    pods: readonly string[];
    app?: string;
    version?: string;
  }>;
  readonly services: ReadonlyArray<{
    namespace: string;
    name: string;
    hostname: string;
    workloads: readonly string[];
    waypoint?: { namespace: string; name: string };
  }>;
  readonly waypoints: ReadonlyArray<{ namespace: string; name: string; identity?: string; pod?: string }>;
}

export const EMPTY_TOPOLOGY: Topology = { workloads: [], services: [], waypoints: [] };

/** Label set by the local scraper on the samples of one waypoint: `<namespace>/<name>`. */
export const WAYPOINT_SOURCE_LABEL = 'ambit_waypoint';

const UNKNOWN = 'unknown';
const known = (v: string | undefined): v is string => v !== undefined && v !== '' && v !== UNKNOWN;

export const nsId = (ns: string): string => `ns:${ns}`;
export const workloadId = (ns: string, name: string): string => `wl:${ns}/${name}`;
export const serviceId = (ns: string, name: string): string => `svc:${ns}/${name}`;
export const waypointId = (ns: string, name: string): string => `wp:${ns}/${name}`;

interface EdgeAcc {
  source: string;
  target: string;
  via?: string;
  protocol: 'http' | 'tcp';
  total: number;
  codes: Record<string, number>;
  mtls: boolean;
  buckets: Map<number, number>;
  bytes: number;
}

/** histogram_quantile over cumulative bucket increases (upper bound → count). */
export function quantileFromBuckets(q: number, buckets: ReadonlyMap<number, number>): number | null {
  const sorted = [...buckets.entries()].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0 || sorted.at(-1)?.[0] !== Infinity) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

export function computeGraph(deltas: Deltas, topology: Topology = EMPTY_TOPOLOGY): Graph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, EdgeAcc>();
  const podToWorkload = new Map<string, string>();
  for (const w of topology.workloads) for (const p of w.pods) podToWorkload.set(`${w.namespace}/${p}`, w.name);
  // A waypoint's workload is its Gateway's name in Istio's labels; its pod name in older reporters.
  const waypointPods = new Set(
    topology.waypoints.flatMap((w) => [`${w.namespace}/${w.pod ?? `${w.name}-waypoint`}`, `${w.namespace}/${w.name}`]),
  );
  const waypointByIdentity = new Map(topology.waypoints.filter((w) => w.identity).map((w) => [w.identity!, w]));
  const serviceWaypoint = new Map(
    topology.services.filter((s) => s.waypoint).map((s) => [`${s.namespace}/${s.name}`, s.waypoint!]),
  );

  const addNs = (ns: string) => {
    if (!nodes.has(nsId(ns))) nodes.set(nsId(ns), { id: nsId(ns), type: 'namespace', label: ns });
  };
  const addWorkload = (ns: string, name: string, app?: string, version?: string): string => {
    const wl = podToWorkload.get(`${ns}/${name}`) ?? name;
    const id = workloadId(ns, wl);
    addNs(ns);
    if (!nodes.has(id))
      nodes.set(id, {
        id,
        type: 'workload',
        label: wl,
        namespace: ns,
        parent: nsId(ns),
        ...(known(app) ? { app } : {}),
        ...(known(version) ? { version } : {}),
      });
    return id;
  };
  const addService = (ns: string, name: string): string => {
    const id = serviceId(ns, name);
    addNs(ns);
    if (!nodes.has(id)) nodes.set(id, { id, type: 'service', label: name, namespace: ns, parent: nsId(ns) });
    return id;
  };
  const addWaypoint = (ns: string, name: string): string => {
    const id = waypointId(ns, name);
    addNs(ns);
    if (!nodes.has(id))
      nodes.set(id, { id, type: 'waypoint', label: `${name} (waypoint)`, namespace: ns, parent: nsId(ns) });
    return id;
  };
  const unknownNode = (): string => {
    if (!nodes.has(UNKNOWN)) nodes.set(UNKNOWN, { id: UNKNOWN, type: 'unknown', label: 'unknown (outside the mesh)' });
    return UNKNOWN;
  };
  const edge = (source: string, target: string, protocol: 'http' | 'tcp', via?: string): EdgeAcc => {
    const id = `${source}->${target}`;
    let e = edges.get(id);
    if (!e) {
      e = {
        source,
        target,
        protocol,
        total: 0,
        codes: {},
        mtls: true,
        buckets: new Map(),
        bytes: 0,
        ...(via ? { via } : {}),
      };
      edges.set(id, e);
    }
    if (via && !e.via) e.via = via;
    return e;
  };

  for (const w of topology.workloads) addWorkload(w.namespace, w.name, w.app, w.version);
  for (const s of topology.services) addService(s.namespace, s.name);
  for (const w of topology.waypoints) addWaypoint(w.namespace, w.name);

  const source = (l: Sample['labels']): string =>
    known(l.source_workload) && known(l.source_workload_namespace)
      ? addWorkload(l.source_workload_namespace, l.source_workload, l.source_app, l.source_version)
      : unknownNode();
  const destinationService = (l: Sample['labels']): string | undefined =>
    known(l.destination_service_name) && known(l.destination_service_namespace)
      ? addService(l.destination_service_namespace, l.destination_service_name)
      : undefined;
  const destinationWorkload = (l: Sample['labels']): string | undefined =>
    known(l.destination_workload) && known(l.destination_workload_namespace)
      ? addWorkload(l.destination_workload_namespace, l.destination_workload, undefined, l.destination_version)
      : undefined;
  const waypointOf = (l: Sample['labels']): string | undefined => {
    const tag = l[WAYPOINT_SOURCE_LABEL];
    if (tag && tag.includes('/')) {
      const [ns, name] = tag.split('/') as [string, string];
      return addWaypoint(ns, name);
    }
    const byService = serviceWaypoint.get(`${l.destination_service_namespace}/${l.destination_service_name}`);
    if (byService) return addWaypoint(byService.namespace, byService.name);
    const byPrincipal = l.destination_principal ? waypointByIdentity.get(l.destination_principal) : undefined;
    if (byPrincipal) return addWaypoint(byPrincipal.namespace, byPrincipal.name);
    return undefined;
  };

  // Requests, as the waypoints saw them, and the gateways (reporter `source`, as Istio's
  // gateways report: the gateway is the source, the routed-to service the destination).
  const byProxy = (l: Sample['labels']) => l.reporter === 'waypoint' || l.reporter === 'source';
  const requestKey = (l: Sample['labels']) => {
    const src = source(l);
    const svc = destinationService(l);
    const dst = destinationWorkload(l);
    const via = l.reporter === 'waypoint' ? waypointOf(l) : undefined;
    return { src, svc, dst, via };
  };
  for (const s of deltas.samples.get('istio_requests_total') ?? []) {
    if (!byProxy(s.labels)) continue;
    const { src, svc, dst, via } = requestKey(s.labels);
    const target = svc ?? dst;
    if (!target) continue;
    const code = s.labels.response_code ?? '?';
    const first = edge(src, target, 'http', via);
    first.total += s.value;
    first.codes[code] = (first.codes[code] ?? 0) + s.value;
    if (s.labels.connection_security_policy !== 'mutual_tls' && s.value > 0) first.mtls = false;
    if (svc && dst) {
      const second = edge(svc, dst, 'http');
      second.total += s.value;
      second.codes[code] = (second.codes[code] ?? 0) + s.value;
    }
  }
  for (const s of deltas.samples.get('istio_request_duration_milliseconds_bucket') ?? []) {
    if (!byProxy(s.labels)) continue;
    const { src, svc, dst } = requestKey(s.labels);
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    if (Number.isNaN(le)) continue;
    for (const [from, to] of [[src, svc ?? dst], svc && dst ? [svc, dst] : [undefined, undefined]] as Array<
      [string | undefined, string | undefined]
    >) {
      const e = from && to ? edges.get(`${from}->${to}`) : undefined;
      if (e) e.buckets.set(le, (e.buckets.get(le) ?? 0) + s.value);
    }
  }

  // Connections, as the agents saw them (the caller's side). A waypoint's own connections to
  // the pods it serves are the service → workload edges above.
  const tcp = (name: string, field: 'total' | 'bytes') => {
    for (const s of deltas.samples.get(name) ?? []) {
      const l = s.labels;
      if (l.reporter === 'source') {
        if (waypointPods.has(`${l.source_workload_namespace}/${l.source_workload}`)) continue;
      } else if (l.reporter !== 'destination' || known(l.source_workload)) continue; // callers outside the mesh only
      const src = source(l);
      const target = destinationService(l) ?? destinationWorkload(l);
      if (!target) continue;
      const http = edges.get(`${src}->${target}`);
      if (http && http.protocol === 'http') {
        if (l.connection_security_policy !== 'mutual_tls' && s.value > 0) http.mtls = false;
        if (field === 'bytes') http.bytes += s.value;
        continue;
      }
      const e = edge(src, target, 'tcp', waypointOf({ ...l, [WAYPOINT_SOURCE_LABEL]: '' }));
      e[field] += s.value;
      if (l.connection_security_policy !== 'mutual_tls' && s.value > 0) e.mtls = false;
    }
  };
  tcp('istio_tcp_connections_opened_total', 'total');
  tcp('istio_tcp_sent_bytes_total', 'bytes');
  tcp('istio_tcp_received_bytes_total', 'bytes');

  // Services and the workloads behind them, even without traffic.
  for (const s of topology.services) {
    for (const w of s.workloads) {
      const id = `${serviceId(s.namespace, s.name)}->${workloadId(s.namespace, w)}`;
      if (!edges.has(id)) edge(serviceId(s.namespace, s.name), addWorkload(s.namespace, w), 'http');
    }
  }

  const l4Denied: Record<string, number> = {};
  for (const s of deltas.samples.get('ambit_connections_refused_total') ?? []) {
    const reason = s.labels.reason ?? '?';
    l4Denied[reason] = (l4Denied[reason] ?? 0) + s.value;
  }

  const perSecond = (n: number) => (deltas.seconds > 0 ? n / deltas.seconds : 0);
  const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
  const out: GraphEdge[] = [...edges.entries()].map(([id, e]) => {
    const errors = Object.entries(e.codes)
      .filter(([c]) => /^[45]/.test(c))
      .reduce((a, [, n]) => a + n, 0);
    const p99 = e.protocol === 'http' ? quantileFromBuckets(0.99, e.buckets) : null;
    return {
      id,
      source: e.source,
      target: e.target,
      ...(e.via ? { via: e.via } : {}),
      protocol: e.protocol,
      rps: round(perSecond(e.total)),
      errorRate: e.total > 0 ? round(errors / e.total, 4) : 0,
      p99Ms: p99 === null ? null : round(p99, 2),
      mtls: e.mtls,
      denied: Math.round(e.codes['403'] ?? 0),
      total: Math.round(e.total),
      codes: Object.fromEntries(Object.entries(e.codes).map(([c, n]) => [c, Math.round(n)])),
      bytesPerSec: round(perSecond(e.bytes), 1),
    };
  });
  return {
    nodes: [...nodes.values()],
    edges: out.sort((a, b) => a.id.localeCompare(b.id)),
    windowSeconds: round(deltas.seconds, 1),
    l4Denied,
  };
}

/** Only what touches the given namespaces: their nodes, edges with an end there, and the nodes at the other end. */
export function filterGraph(g: Graph, namespaces: readonly string[]): Graph {
  if (namespaces.length === 0) return g;
  const wanted = new Set(namespaces);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const inside = (id: string | undefined) => id !== undefined && wanted.has(byId.get(id)?.namespace ?? '');
  const edges = g.edges.filter((e) => inside(e.source) || inside(e.target));
  const keep = new Set<string>();
  for (const n of g.nodes) if (inside(n.id)) keep.add(n.id);
  for (const e of edges) {
    keep.add(e.source);
    keep.add(e.target);
    if (e.via) keep.add(e.via);
  }
  for (const id of [...keep]) {
    const p = byId.get(id)?.parent;
    if (p) keep.add(p);
  }
  return { ...g, nodes: g.nodes.filter((n) => keep.has(n.id)), edges };
}

/** Samples of several sources in one map (the caller labels them apart). */
export function mergeSamples(parts: ReadonlyArray<Samples>): Samples {
  const out: Samples = new Map();
  for (const p of parts) for (const [name, list] of p) out.set(name, [...(out.get(name) ?? []), ...list]);
  return out;
}
