// The agent's connection bookkeeping on top of core/telemetry's tracker (which owns the
// "connection complete" log line, /debug/connections and the Istio TCP metrics): how the
// proxy handlers describe a connection, refusal counting, and the metric labels.
import type { MeshMetrics } from '../../core/metrics/mesh-metrics.js';
import { workloadNameOf, type LabelInput, type PeerInfo } from '../../core/metrics/labels.js';
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

function labelInput(c: ConnectionRecord): LabelInput {
  const slash = c.service?.indexOf('/') ?? -1;
  const host = c.service ? c.service.slice(slash + 1) : undefined;
  return {
    reporter: c.direction === 'inbound' || c.direction === 'inbound-plaintext' ? 'destination' : 'source',
    source: peerInfo(c.src),
    destination: peerInfo(c.dst),
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

  constructor(
    private readonly metrics: MeshMetrics | undefined,
    log: Logger,
  ) {
    this.inner = new TelemetryTracker({ ...(metrics ? { metrics } : {}), log });
  }

  open(c: ConnectionRecord): Tracked {
    this.totals.opened++;
    const t = this.inner.track({
      direction: c.direction,
      src: { address: c.src.ip, port: c.src.port, ...pick(c.src) },
      dst: { address: c.dst.ip, port: c.dst.port, ...pick(c.dst), ...(c.service ? { service: c.service } : {}) },
      metrics: labelInput(c),
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
    };
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

function pick(p: Peer): { identity?: string; workload?: string; namespace?: string } {
  return {
    ...(p.identity ? { identity: p.identity } : {}),
    ...(p.workload ? { workload: p.workload } : {}),
    ...(p.namespace ? { namespace: p.namespace } : {}),
  };
}
