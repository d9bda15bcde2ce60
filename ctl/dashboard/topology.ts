// The graph's skeleton from what the components hold: the agent's /config_dump (workloads,
// services and their waypoints) and the waypoints `local up` records. A pod's workload is
// its `service.istio.io/workload-name` label (the Deployment), as Istio names workloads.
import type { Topology } from './graph.js';
import { WORKLOAD_NAME_LABEL } from '../../core/mesh/vocabulary.js';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export interface WaypointInfo {
  readonly namespace: string;
  readonly name: string;
  readonly identity?: string;
  readonly pod?: string;
}

export function topologyFromDump(agentDump: unknown, waypoints: readonly WaypointInfo[] = []): Topology {
  const d = rec(agentDump);
  const workloads = new Map<
    string,
    { namespace: string; name: string; pods: string[]; app?: string; version?: string }
  >();
  const byUid = new Map<string, string>();
  const waypointPods = new Set(waypoints.map((w) => `${w.namespace}/${w.pod ?? ''}`));
  for (const w of arr(d.workloads)) {
    const ns = str(w.namespace);
    const pod = str(w.name);
    if (!ns || !pod || waypointPods.has(`${ns}/${pod}`)) continue;
    const labels = rec(w.labels);
    const name = str(labels[WORKLOAD_NAME_LABEL]) ?? pod;
    const key = `${ns}/${name}`;
    const entry = workloads.get(key) ?? {
      namespace: ns,
      name,
      pods: [],
      ...((str(w.canonicalName) ?? str(labels.app)) ? { app: str(w.canonicalName) ?? str(labels.app)! } : {}),
      ...((str(w.canonicalRevision) ?? str(labels.version))
        ? { version: str(w.canonicalRevision) ?? str(labels.version)! }
        : {}),
    };
    entry.pods.push(pod);
    workloads.set(key, entry);
    if (str(w.uid)) byUid.set(str(w.uid)!, name);
  }
  const services = arr(d.services).flatMap((s) => {
    const ns = str(s.namespace);
    const name = str(s.name);
    if (!ns || !name) return [];
    const wl = new Set<string>();
    for (const e of arr(s.endpoints)) {
      const name = byUid.get(str(e.workloadUid) ?? '') ?? str(rec(e.labels)[WORKLOAD_NAME_LABEL]);
      if (name) wl.add(name);
    }
    const wp = rec(s.waypoint);
    const waypoint =
      str(wp.name) && str(wp.namespace) ? { namespace: str(wp.namespace)!, name: str(wp.name)! } : undefined;
    return [
      {
        namespace: ns,
        name,
        hostname: str(s.hostname) ?? name,
        workloads: [...wl].sort(),
        ...(waypoint ? { waypoint } : {}),
      },
    ];
  });
  const allWaypoints = new Map(waypoints.map((w) => [`${w.namespace}/${w.name}`, w]));
  for (const s of services)
    if (s.waypoint && !allWaypoints.has(`${s.waypoint.namespace}/${s.waypoint.name}`))
      allWaypoints.set(`${s.waypoint.namespace}/${s.waypoint.name}`, s.waypoint);
  return { workloads: [...workloads.values()], services, waypoints: [...allWaypoints.values()] };
}
