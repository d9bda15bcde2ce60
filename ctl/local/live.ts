// `local up --live` (npm start): a traffic generator pod and a terminal view refreshed each
// second. The generator's targets are the Services annotated `ambit.dev/traffic-weight`
// (path `ambit.dev/traffic-path`, default /), else every Service of the first ambient
// namespace. The view shows, per target, what the generator measured (rps, success, p50/p99,
// errors, versions answering since the start: the v1/v2 split), per mesh edge what the
// agent's metrics on 15020 say (connections, bytes/s, mTLS), per waypoint the requests it
// routed by destination and status (its metrics on 127.0.0.1:15100+i), and policy denials
// (connections the agents refused, requests the waypoints answered 403). Keys: + / - rate, q quit.
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readManifests } from '../../controller/sources/file-read.js';
import type { KubeObject } from '../../controller/sources/types.js';
import { setLogSink } from '../../core/log.js';
import { isAmbient } from '../../core/mesh/vocabulary.js';
import type { LoadStats, Target } from './loadgen.js';
import type { UnitStatus } from './supervisor.js';
import { isDetached } from './terminal.js';
import { PACKAGE_ROOT } from './paths.js';
import type { RunningMesh } from './up.js';

export const GENERATOR_NAME = 'traffic-generator';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});

/** The generator's targets and namespace from DIR's Services. */
export async function generatorTargets(dir: string): Promise<{ namespace: string; targets: Target[] } | undefined> {
  const objects = (await readManifests(path.resolve(dir))).documents.map((d) => d.object);
  const ambient = new Set(
    objects.filter((o) => o.kind === 'Namespace' && isAmbient(o.metadata.labels)).map((o) => o.metadata.name),
  );
  const services = objects.filter((o) => o.kind === 'Service');
  const annotated = services.filter((s) => s.metadata.annotations?.['ambit.dev/traffic-weight'] !== undefined);
  const chosen =
    annotated.length > 0 ? annotated : services.filter((s) => ambient.has(s.metadata.namespace ?? 'default'));
  if (chosen.length === 0) return undefined;
  const namespace = chosen[0]!.metadata.namespace ?? 'default';
  const targets = chosen
    .filter((s) => (s.metadata.namespace ?? 'default') === namespace)
    .map((s) => {
      const port = rec((rec(s.spec).ports as unknown[] | undefined)?.[0]).port ?? 80;
      const a = s.metadata.annotations ?? {};
      return {
        name: s.metadata.name,
        url: `http://${s.metadata.name}:${String(port)}${a['ambit.dev/traffic-path'] ?? '/'}`,
        weight: Number(a['ambit.dev/traffic-weight'] ?? 1),
      };
    });
  return { namespace, targets };
}

/** The generator pod, added to the plan. */
export function generatorPod(
  namespace: string,
  targets: readonly Target[],
  stateDir: string,
  rate: number,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: GENERATOR_NAME, namespace, labels: { app: GENERATOR_NAME } },
    spec: {
      serviceAccountName: GENERATOR_NAME,
      containers: [
        {
          name: 'loadgen',
          command: ['node', path.join(PACKAGE_ROOT, 'dist', 'ctl', 'local', 'loadgen.js')],
          env: [
            { name: 'TARGETS', value: JSON.stringify(targets) },
            { name: 'RATE', value: String(rate) },
            { name: 'STATS_FILE', value: path.join(stateDir, 'logs', 'loadgen-stats.json') },
            { name: 'RATE_FILE', value: path.join(stateDir, 'logs', 'loadgen-rate') },
          ],
        },
      ],
    },
  };
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

interface Edge {
  opened: number;
  closed: number;
  sent: number;
  received: number;
  mtls: boolean;
}

function edges(metrics: Map<string, Sample[]>): Map<string, Edge> {
  const out = new Map<string, Edge>();
  const add = (name: string, field: 'opened' | 'closed' | 'sent' | 'received') => {
    for (const s of metrics.get(name) ?? []) {
      if (s.labels.reporter !== 'source') continue;
      const key = `${s.labels.source_workload ?? '?'} → ${s.labels.destination_service_name && s.labels.destination_service_name !== 'unknown' ? s.labels.destination_service_name : (s.labels.destination_workload ?? '?')}`;
      const e = out.get(key) ?? { opened: 0, closed: 0, sent: 0, received: 0, mtls: true };
      e[field] += s.value;
      if (s.labels.connection_security_policy !== 'mutual_tls') e.mtls = false;
      out.set(key, e);
    }
  };
  add('istio_tcp_connections_opened_total', 'opened');
  add('istio_tcp_connections_closed_total', 'closed');
  add('istio_tcp_sent_bytes_total', 'sent');
  add('istio_tcp_received_bytes_total', 'received');
  return out;
}

const ms = (v: number | null) => (v === null ? '-' : v < 10 ? v.toFixed(1) : v.toFixed(0));
const bytes = (n: number) =>
  n < 1024 ? `${n.toFixed(0)} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;

export interface WaypointView {
  /** `<namespace>/<gateway>` */
  readonly label: string;
  readonly port: number;
  readonly now: Map<string, Sample[]>;
  readonly before: Map<string, Sample[]> | undefined;
}

/**
 * A waypoint's (or gateway's) istio_requests_total by destination service: total and per
 * response code. A gateway reports as Istio's gateways do, with reporter `source`.
 */
function requestsByService(
  metrics: Map<string, Sample[]> | undefined,
  reporter: 'waypoint' | 'source',
): Map<string, { total: number; codes: Record<string, number> }> {
  const out = new Map<string, { total: number; codes: Record<string, number> }>();
  for (const s of metrics?.get('istio_requests_total') ?? []) {
    if (s.labels.reporter !== reporter) continue;
    const key = s.labels.destination_service_name ?? '?';
    const e = out.get(key) ?? { total: 0, codes: {} };
    e.total += s.value;
    const code = s.labels.response_code ?? '?';
    e.codes[code] = (e.codes[code] ?? 0) + s.value;
    out.set(key, e);
  }
  return out;
}

/** Istio's gateway pods (istio-ingressgateway / istio-egressgateway, see gateways.ts) run the waypoint binary. */
const isGateway = (w: Pick<WaypointView, 'label'>): boolean => /\/istio-(ingress|egress)gateway$/.test(w.label);

/** One line on the supervised processes: restarts and what is not running. */
export function processLine(units: readonly UnitStatus[]): string {
  const restarted = units.filter((u) => u.restarts > 0).map((u) => `${u.name} ×${u.restarts}`);
  const down = units
    .filter((u) => u.state !== 'running')
    .map((u) => `${u.name} (${u.state}${u.lastExit ? `, exit ${u.lastExit.code ?? 'signal'}` : ''})`);
  const color = down.length > 0 ? '\x1b[33m' : restarted.length > 0 ? '\x1b[36m' : '\x1b[32m';
  return `\x1b[1mPROCESSES\x1b[0m ${color}${units.length - down.length}/${units.length} running; restarts: ${restarted.join(', ') || 'none'}${down.length > 0 ? `; not running: ${down.join(', ')}` : ''}\x1b[0m`;
}

export function renderView(o: {
  stats: LoadStats | undefined;
  now: Map<string, Sample[]>;
  before: Map<string, Sample[]> | undefined;
  pods: number;
  started: number;
  admin: number;
  waypoints?: readonly WaypointView[];
  units?: readonly UnitStatus[];
}): string {
  const lines: string[] = [];
  const up = Math.round((Date.now() - o.started) / 1000);
  lines.push(
    `\x1b[1mAmbit local mesh\x1b[0m — ${o.pods} pods, up ${up}s — generator ${o.stats ? `${o.stats.rate} req/s (in flight ${o.stats.inflight}, skipped ${o.stats.skipped})` : 'starting…'}`,
  );
  // The dashboard `local up --live` serves beside this view: 20001, moved by the port offset as the node ports are.
  lines.push(
    `keys: + / - change the rate, q or Ctrl-C to stop and tear down — dashboard: http://127.0.0.1:${20001 + o.admin - 15000}/`,
  );
  if (o.units) lines.push(processLine(o.units));
  lines.push('');
  lines.push('\x1b[1mTRAFFIC (traffic-generator → service)\x1b[0m');
  lines.push(
    `${'service'.padEnd(20)}${'rps'.padStart(6)}${'success'.padStart(9)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}  versions (since start) / errors`,
  );
  for (const [name, t] of Object.entries(o.stats?.targets ?? {})) {
    const success = t.rps > 0 ? `${((100 * t.ok) / t.rps).toFixed(1)}%` : '-';
    // The split since the start: a second holds only a few requests per service.
    const split = t.totalVersions && Object.keys(t.totalVersions).length > 0 ? t.totalVersions : t.versions;
    const answered = Math.max(
      1,
      Object.values(split).reduce((a, b) => a + b, 0),
    );
    const versions = Object.entries(split)
      .sort()
      .map(([v, n]) => `${v} ${Math.round((100 * n) / answered)}%`)
      .join(' ');
    const errors = Object.entries(t.errors)
      .map(([e, n]) => `${e}×${n}`)
      .join(' ');
    const color = t.failed > 0 && t.ok === 0 ? '\x1b[31m' : t.failed > 0 ? '\x1b[33m' : '\x1b[32m';
    lines.push(
      `${color}${name.padEnd(20)}${String(t.rps).padStart(6)}${success.padStart(9)}${ms(t.p50).padStart(8)}${ms(t.p99).padStart(8)}  ${[versions, errors].filter(Boolean).join('  ')}\x1b[0m`,
    );
  }
  lines.push('');
  lines.push(`\x1b[1mMESH EDGES (agent metrics, 127.0.0.1:${o.admin + 20})\x1b[0m`);
  lines.push(
    `${'source → destination'.padEnd(44)}${'conns'.padStart(7)}${'conns/s'.padStart(8)}${'open'.padStart(6)}${'bytes'.padStart(11)}  security`,
  );
  const now = edges(o.now);
  const before = o.before ? edges(o.before) : new Map<string, Edge>();
  for (const [key, e] of [...now.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const b = before.get(key);
    const rate = b ? e.opened - b.opened : 0;
    lines.push(
      `${key.padEnd(44)}${String(e.opened).padStart(7)}${String(rate).padStart(8)}${String(e.opened - e.closed).padStart(6)}${bytes(e.sent + e.received).padStart(11)}  ${e.mtls ? '\x1b[32mmTLS (HBONE)\x1b[0m' : '\x1b[31mplaintext\x1b[0m'}`,
    );
  }
  lines.push('');
  let denied = 0;
  let deniedBefore = 0;
  for (const w of o.waypoints ?? []) {
    const gateway = isGateway(w);
    const title = gateway
      ? `GATEWAY ${w.label}\x1b[0m (traffic entering or leaving the mesh; admin + metrics 127.0.0.1:${w.port})`
      : `WAYPOINT ${w.label}\x1b[0m (L7 routing and policy; admin + metrics 127.0.0.1:${w.port})`;
    lines.push(`\x1b[1m${title}`);
    lines.push(`${'destination service'.padEnd(24)}${'requests'.padStart(9)}${'req/s'.padStart(7)}  responses`);
    const now = requestsByService(w.now, gateway ? 'source' : 'waypoint');
    const before = requestsByService(w.before, gateway ? 'source' : 'waypoint');
    for (const [svc, e] of [...now.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const b = before.get(svc);
      const codes = Object.entries(e.codes)
        .sort()
        .map(([c, n]) => `${c} ${Math.round((100 * n) / Math.max(1, e.total))}%`)
        .join(' ');
      lines.push(
        `${svc.padEnd(24)}${String(e.total).padStart(9)}${String(b ? e.total - b.total : 0).padStart(7)}  ${codes}`,
      );
      denied += e.codes['403'] ?? 0;
      deniedBefore += b ? (b.codes['403'] ?? 0) : (e.codes['403'] ?? 0);
    }
    lines.push('');
  }
  const refused = (o.now.get('ambit_connections_refused_total') ?? []).map((s) => {
    const b =
      (o.before?.get('ambit_connections_refused_total') ?? []).find((x) => x.labels.reason === s.labels.reason)
        ?.value ?? s.value;
    return `${s.labels.reason ?? '?'}: ${s.value} (+${s.value - b}/s)`;
  });
  const waypointDenials =
    o.waypoints && o.waypoints.length > 0
      ? `; requests denied by ${o.waypoints.some(isGateway) ? 'waypoints and gateways' : 'waypoints'} (403) — ${denied} (+${denied - deniedBefore}/s)`
      : '';
  lines.push(`\x1b[1mPOLICY\x1b[0m refused connections — ${refused.join(', ') || 'none'}${waypointDenials}`);
  lines.push(
    o.waypoints?.some((w) => !isGateway(w))
      ? 'Service traffic goes through the waypoint: it splits customer-service 70/30 per request (VirtualService) and answers 403 to callers the AuthorizationPolicy denies.'
      : 'Without a waypoint, customer-service v1/v2 are balanced per connection at L4; the 70/30 VirtualService needs one.',
  );
  return lines.join('\n');
}

export async function startLive(mesh: RunningMesh, opts: { rate: number }): Promise<void> {
  const logs = path.join(mesh.record.stateDir, 'logs');
  const rateFile = path.join(logs, 'loadgen-rate');
  let rate = opts.rate;
  await writeFile(rateFile, String(rate));
  const started = Date.now();
  // JSON logs would scroll the view away: they go to <state-dir>/logs/ambitctl.log meanwhile.
  const logStream = createWriteStream(path.join(logs, 'ambitctl.log'), { flags: 'a' });
  setLogSink(logStream);
  let before: Map<string, Sample[]> | undefined;
  const waypointsBefore = new Map<number, Map<string, Sample[]>>();
  const tty = process.stdin.isTTY === true;
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (key: Buffer) => {
      const k = key.toString();
      if (k === '\u0003' || k === 'q') process.kill(process.pid, 'SIGINT');
      else if (k === '+' || k === '=') rate = Math.min(1000, rate < 10 ? rate + 1 : Math.round(rate * 1.5));
      else if (k === '-') rate = Math.max(0, rate <= 10 ? rate - 1 : Math.round(rate / 1.5));
      void writeFile(rateFile, String(rate)).catch(() => undefined);
    });
  }
  let stopped = false;
  const timer = setInterval(() => {
    void (async () => {
      if (stopped || isDetached()) return; // no terminal left to draw on
      const stats = await readFile(path.join(logs, 'loadgen-stats.json'), 'utf8').then(
        (t) => JSON.parse(t) as LoadStats,
        () => undefined,
      );
      const scrape = (port: number) =>
        fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(900) })
          .then(
            (r) => r.text(),
            () => '',
          )
          .then(parseMetrics);
      const now = await scrape(mesh.record.ports.agentMetrics);
      const waypoints: WaypointView[] = [];
      for (const w of mesh.record.waypoints ?? []) {
        waypoints.push({
          label: `${w.namespace}/${w.name}`,
          port: w.port,
          now: await scrape(w.port),
          before: waypointsBefore.get(w.port),
        });
      }
      if (stopped) return;
      process.stdout.write(
        `\x1b[H\x1b[2J${renderView({ stats, now, before, pods: mesh.record.planned.length, started, admin: mesh.record.ports.agentAdmin, waypoints, units: mesh.supervisor.list() })}\n`,
      );
      before = now;
      for (const w of waypoints) waypointsBefore.set(w.port, w.now);
    })();
  }, 1000);
  const reason = await mesh.stopping;
  stopped = true;
  clearInterval(timer);
  if (tty) {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  }
  if (!isDetached()) setLogSink(process.stderr);
  logStream.end();
  process.stdout.write(`\nstopping (${reason}): tearing the local mesh down…\n`);
}
