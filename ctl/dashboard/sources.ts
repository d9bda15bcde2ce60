// Where the dashboard's numbers come from.
// - A local mesh (`ambitctl local up`, found by its record in the state dir): the agent's
//   metrics and /config_dump on its node ports, and each waypoint's on its host port (the
//   ports `ambitctl waypoint list --local` shows). Scraped every tick into a ring buffer.
// - A Prometheus (--prometheus URL): increase() over the window through its HTTP API.
import path from 'node:path';
import { readRecord, isAlive, type LocalRecord } from '../local/state.js';
import { GRAPH_FAMILIES, parseMetricsText, type Samples } from './metrics-text.js';
import { EMPTY_TOPOLOGY, mergeSamples, WAYPOINT_SOURCE_LABEL, type Topology } from './graph.js';
import { topologyFromDump, type WaypointInfo } from './topology.js';
import type { Deltas } from './window.js';
import type { AgentConfigDump, ConfigDump, WaypointConfigDump } from '../../core/admin/dump.js';

const TIMEOUT_MS = 1500;
const isGraphFamily = (name: string): boolean => GRAPH_FAMILIES.test(name);

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

export interface MeshView {
  readonly record?: LocalRecord;
  readonly agentDump?: AgentConfigDump;
  readonly waypointDumps: Array<{ namespace: string; name: string; dump: WaypointConfigDump }>;
  readonly topology: Topology;
  /** Agent and waypoint samples (waypoints' tagged with their name); undefined when nothing answered. */
  readonly samples?: Samples;
  /** Changes whenever any component's config version changes. */
  readonly configVersion: string;
  readonly problems: string[];
}

export const NO_MESH: MeshView = { waypointDumps: [], topology: EMPTY_TOPOLOGY, configVersion: '', problems: [] };

/** One look at the running local mesh: its record, dumps and metrics. */
export async function pollLocalMesh(stateDir: string, withMetrics: boolean): Promise<MeshView> {
  const problems: string[] = [];
  const record = await readRecord(path.resolve(stateDir)).catch((err: Error) => {
    problems.push(`local mesh record: ${err.message}`);
    return undefined;
  });
  if (!record || !isAlive(record.pid)) {
    problems.push(`no local mesh is running (state dir ${stateDir}): start one with \`ambitctl local up -f DIR\``);
    return { ...NO_MESH, problems };
  }
  const agent = `http://127.0.0.1:${record.ports.agentAdmin}`;
  const [agentDump, agentMetrics] = await Promise.all([
    getText(`${agent}/config_dump`).then(
      (t) => JSON.parse(t) as AgentConfigDump,
      (err: Error) => {
        problems.push(`agent admin: ${err.message}`);
        return undefined;
      },
    ),
    withMetrics
      ? getText(`http://127.0.0.1:${record.ports.agentMetrics}/metrics`).then(
          (t) => parseMetricsText(t, (n) => GRAPH_FAMILIES.test(n)),
          (err: Error) => {
            problems.push(`agent metrics: ${err.message}`);
            return undefined;
          },
        )
      : undefined,
  ]);
  const waypointDumps: MeshView['waypointDumps'] = [];
  const parts: Samples[] = agentMetrics ? [agentMetrics] : [];
  await Promise.all(
    (record.waypoints ?? []).map(async (w) => {
      const base = `http://127.0.0.1:${w.port}`;
      const [dump, metrics] = await Promise.all([
        getText(`${base}/config_dump`).then(
          (t) => JSON.parse(t) as WaypointConfigDump,
          (err: Error) => {
            problems.push(`waypoint ${w.namespace}/${w.name} admin: ${err.message}`);
            return undefined;
          },
        ),
        withMetrics
          ? getText(`${base}/metrics`).then(
              (t) => parseMetricsText(t, isGraphFamily, { [WAYPOINT_SOURCE_LABEL]: `${w.namespace}/${w.name}` }),
              (err: Error) => {
                problems.push(`waypoint ${w.namespace}/${w.name} metrics: ${err.message}`);
                return undefined;
              },
            )
          : undefined,
      ]);
      if (dump !== undefined) waypointDumps.push({ namespace: w.namespace, name: w.name, dump });
      if (metrics) parts.push(metrics);
    }),
  );
  waypointDumps.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const waypoints: WaypointInfo[] = (record.waypoints ?? []).map((w) => ({
    namespace: w.namespace,
    name: w.name,
    identity: w.identity,
    pod: w.pod,
  }));
  const version = (d: ConfigDump | undefined) => String(d?.version ?? '');
  const samples = parts.length > 0 ? mergeSamples(parts) : undefined;
  return {
    record,
    agentDump,
    waypointDumps,
    topology: topologyFromDump(agentDump, waypoints),
    problems,
    ...(samples ? { samples } : {}),
    configVersion: [version(agentDump), ...waypointDumps.map((w) => version(w.dump))].join(','),
  };
}

interface PromVector {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

/** Prometheus's HTTP API: an instant query. */
export async function promQuery(
  base: string,
  query: string,
  timeoutMs = 5000,
): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const url = `${base.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json().catch(() => ({ status: 'error', error: `HTTP ${res.status}` }))) as PromVector;
  if (body.status !== 'success' || !body.data)
    throw new Error(`prometheus ${query}: ${body.error ?? `HTTP ${res.status}`}`);
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

const PROM_COUNTERS = [
  'istio_requests_total',
  'istio_request_duration_milliseconds_bucket',
  'istio_tcp_connections_opened_total',
  'istio_tcp_sent_bytes_total',
  'istio_tcp_received_bytes_total',
  'ambit_connections_refused_total',
];

/** The counters' increases over the window, from Prometheus. */
export async function prometheusDeltas(base: string, seconds: number): Promise<Deltas> {
  const samples: Samples = new Map();
  await Promise.all(
    PROM_COUNTERS.map(async (name) => {
      const rows = await promQuery(base, `increase(${name}[${Math.max(1, Math.round(seconds))}s])`);
      samples.set(
        name,
        rows.filter((r) => Number.isFinite(r.value)).map((r) => ({ labels: r.metric, value: r.value })),
      );
    }),
  );
  return { seconds, samples };
}
