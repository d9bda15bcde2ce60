// The agent's connection bookkeeping on top of core/telemetry's tracker (which owns the
// "connection complete" log line, /debug/connections and the Istio TCP metrics): how the
// proxy handlers describe a connection, refusal counting, and the metric labels. Labels name
// workloads as the waypoint does (core/metrics/labels.ts): with a mesh view, a peer's labels
// come from the mesh's workload at its address, and the hop to a waypoint names the waypoint.
import type { MeshMetrics } from '../../core/metrics/mesh-metrics.js';
import {
  peerFromWaypoint,
  peerFromWorkload,
  workloadNameOf,
  type LabelInput,
  type PeerInfo,
} from '../../core/metrics/labels.js';
import type { MeshSnapshot, Service, WaypointRef, Workload } from '../../core/model/types.js';
import type { Attribute } from '../../core/telemetry/policy.js';
import {
  AccessLogWriter,
  extrasOf,
  TelemetryResolver,
  type AttributeSource,
  type ResolvedTelemetry,
} from '../../core/telemetry/reporter.js';
import { ConnectionTracker as TelemetryTracker, type ConnectionSnapshot } from '../../core/telemetry/connections.js';
import type { Logger } from '../../core/log.js';

export type ConnectionDirection = 'outbound' | 'inbound' | 'inbound-plaintext' | 'socks5';

export interface Peer {
  readonly ip: string;
  readonly port: number;
  /** SPIFFE id when known (mTLS peer, or the workload's identity). */
  readonly identity?: string;
  /** Pod name. */
  readonly workload?: string;
  /** The workload the pod belongs to, for metric labels (its `service.istio.io/workload-name` label). */
  readonly workloadName?: string;
  readonly namespace?: string;
  readonly app?: string;
  readonly version?: string;
}

export interface ConnectionRecord {
  readonly direction: ConnectionDirection;
  readonly src: Peer;
  readonly dst: Peer;
  /** Service key (`ns/hostname`) when the client addressed a Service VIP. */
  readonly service?: string;
  /** How the bytes travel: 'hbone', 'waypoint', 'passthrough', 'none'. */
  readonly route: string;
  readonly security: 'mutual_tls' | 'none';
}

export interface ConnectionResult {
  /** Bytes from the client toward the destination. */
  readonly fromClient: number;
  /** Bytes from the destination back to the client. */
  readonly toClient: number;
  readonly reason: string;
}

export type RefusalReason =
  | 'authz-denied'
  | 'strict-mtls'
  | 'registry-only'
  | 'no-endpoint'
  | 'upstream-failed'
  | 'not-redirected'
  | 'unknown-pod';

export interface Tracked {
  /** Call once when both sides are closed. */
  done(result: ConnectionResult): void;
  /** The connection was refused before any byte was proxied; counted by reason. */
  refuse(reason: RefusalReason, detail: string): void;
  /** Where `/debug/connections` reads the bytes while the connection is open (the relay's counts). */
  readLive(read: () => Pick<ConnectionResult, 'fromClient' | 'toClient'>): void;
}

/** What the tracker reads from the agent's current mesh view (MeshState has it). */
export interface MeshView {
  readonly snapshot: Pick<MeshSnapshot, 'mesh'>;
  workloadByIp(ip: string): Workload | undefined;
  serviceByVip(ip: string, port: number): { service: Service } | undefined;
}

function peerInfo(p: Peer): PeerInfo {
  const workload = p.workloadName ?? (p.workload ? workloadNameOf({ name: p.workload, labels: {} }) : undefined);
  return {
    ...(workload ? { workload, app: p.app ?? workload } : {}),
    ...(p.namespace ? { namespace: p.namespace } : {}),
    ...(p.identity ? { principal: p.identity } : {}),
    ...(p.version ? { version: p.version } : {}),
  };
}

/** A peer's metric labels: the mesh's workload at its address when known, keeping its verified principal. */
function meshPeer(p: Peer, view: MeshView | undefined): PeerInfo {
  const w = view && p.ip ? view.workloadByIp(p.ip) : undefined;
  if (!w) return peerInfo(p);
  return { ...peerFromWorkload(w), ...(p.identity ? { principal: p.identity } : {}) };
}

function waypointOf(c: ConnectionRecord, view: MeshView | undefined): WaypointRef | undefined {
  if (c.route !== 'waypoint' || !view) return undefined;
  return view.serviceByVip(c.dst.ip, c.dst.port)?.service.waypoint ?? view.workloadByIp(c.dst.ip)?.waypoint;
}

function labelInput(c: ConnectionRecord, view: MeshView | undefined): LabelInput {
  const slash = c.service?.indexOf('/') ?? -1;
  const host = c.service ? c.service.slice(slash + 1) : undefined;
  const waypoint = waypointOf(c, view);
  return {
    reporter: c.direction === 'inbound' || c.direction === 'inbound-plaintext' ? 'destination' : 'source',
    source: meshPeer(c.src, view),
    destination: waypoint ? peerFromWaypoint(waypoint) : meshPeer(c.dst, view),
    ...(host
      ? {
          service: {
            hostname: host,
            name: host.split('.')[0]!,
            ...(slash > 0 ? { namespace: c.service!.slice(0, slash) } : {}),
          },
        }
      : {}),
    securityPolicy: c.security,
  };
}

export class ConnectionTracker {
  private readonly inner: TelemetryTracker;
  private readonly refusals = new Map<string, number>();
  private totals = { opened: 0, closed: 0 };
  private readonly telemetry = new TelemetryResolver();
  private readonly accessLog: AccessLogWriter;

  /** `view`: the agent's current mesh view, for workload labels and Telemetry resources. */
  constructor(
    private readonly metrics: MeshMetrics | undefined,
    log: Logger,
    private readonly view?: () => MeshView | undefined,
    accessLog?: AccessLogWriter,
  ) {
    this.inner = new TelemetryTracker({ ...(metrics ? { metrics } : {}), log });
    this.accessLog = accessLog ?? new AccessLogWriter();
  }

  open(c: ConnectionRecord): Tracked {
    this.totals.opened++;
    const view = this.view?.();
    const input = labelInput(c, view);
    const tel = view ? this.resolve(c, view) : undefined;
    const t = this.inner.track({
      direction: c.direction,
      src: { address: c.src.ip, port: c.src.port, ...pick(c.src) },
      dst: { address: c.dst.ip, port: c.dst.port, ...pick(c.dst), ...(c.service ? { service: c.service } : {}) },
      metrics: input,
      ...(tel?.view ? { overrides: { view: tel.view, extras: extrasOf(tel.view, l4Attributes(c)) } } : {}),
      ...(tel?.effective.accessLogging
        ? {
            onClose: (snap, reason) =>
              this.accessLog.write(tel.effective, undefined, {
                start_time: snap.start,
                duration: snap.durationMs,
                reporter: input.reporter,
                direction: c.direction,
                downstream_remote_address: `${c.src.ip}:${c.src.port}`,
                upstream_host: `${c.dst.ip}:${c.dst.port}`,
                source_principal: c.src.identity,
                destination_principal: c.dst.identity,
                destination_service: c.service,
                bytes_received: snap.bytesReceived,
                bytes_sent: snap.bytesSent,
                connection_security_policy: c.security,
                connection_termination_details: reason,
              }),
          }
        : {}),
    });
    return {
      done: (r) => {
        if (t.isClosed) return;
        this.totals.closed++;
        t.close(r.reason, { received: r.fromClient, sent: r.toClient });
      },
      refuse: (reason, detail) => {
        if (t.isClosed) return;
        this.totals.closed++;
        this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
        this.metrics?.connectionRefused(reason);
        t.close(`refused: ${reason}: ${detail}`);
      },
      readLive: (read) =>
        t.readLive(() => {
          const r = read();
          return { received: r.fromClient, sent: r.toClient };
        }),
    };
  }

  /**
   * The reporting pod's Telemetry (Istio's modes: the source side reports as CLIENT, the
   * destination side as SERVER), from the mesh's workload at its address.
   */
  private resolve(c: ConnectionRecord, view: MeshView): ResolvedTelemetry | undefined {
    const mesh = view.snapshot.mesh;
    if (!mesh.telemetry || mesh.telemetry.length === 0) return undefined;
    const server = c.direction === 'inbound' || c.direction === 'inbound-plaintext';
    const local = server ? c.dst : c.src;
    const w = view.workloadByIp(local.ip);
    const namespace = w?.namespace ?? local.namespace;
    if (!namespace) return undefined;
    return this.telemetry.resolve(mesh, { namespace, labels: w?.labels ?? {}, mode: server ? 'SERVER' : 'CLIENT' });
  }

  active(): ConnectionSnapshot[] {
    return this.inner.list();
  }
  refusalCounts(): Record<string, number> {
    return Object.fromEntries(this.refusals);
  }
  counts(): { active: number; opened: number; closed: number; refused: number } {
    let refused = 0;
    for (const n of this.refusals.values()) refused += n;
    return { active: this.inner.size, ...this.totals, refused };
  }

  /** Resolves with the number still open once idle or after `ms`. */
  async waitIdle(ms: number): Promise<number> {
    await this.inner.whenIdle(ms);
    return this.inner.size;
  }
}

/** L4 attributes a Telemetry tag value may read (request.* and response.* are unknown here). */
function l4Attributes(c: ConnectionRecord): AttributeSource {
  const values: Partial<Record<Attribute, string | number | boolean>> = {
    'source.address': c.src.ip,
    'source.port': c.src.port,
    'destination.address': c.dst.ip,
    'destination.port': c.dst.port,
    'connection.mtls': c.security === 'mutual_tls',
    ...(c.src.identity ? { 'source.principal': c.src.identity } : {}),
    ...(c.dst.identity ? { 'destination.principal': c.dst.identity } : {}),
  };
  return { attribute: (name) => values[name] };
}

function pick(p: Peer): { identity?: string; workload?: string; namespace?: string } {
  return {
    ...(p.identity ? { identity: p.identity } : {}),
    ...(p.workload ? { workload: p.workload } : {}),
    ...(p.namespace ? { namespace: p.namespace } : {}),
  };
}
