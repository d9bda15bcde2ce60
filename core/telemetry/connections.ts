// Open-connection tracking for the agent and the waypoint: what `/debug/connections` shows,
// the one JSON "connection complete" log line per connection, and the Istio TCP metrics.
//
// Byte directions follow Istio's TCP metrics: `received` = bytes from the source (client →
// destination), `sent` = bytes back to the source (destination → client).
// Hot path: `addReceived`/`addSent` are two additions and a bound counter increment; callers
// that only know totals at the end pass them to `close()` instead (only the delta is added),
// and may hand `readLive` their relay's running counts so an open connection shows its bytes.
import { createLogger, type Logger } from '../log.js';
import { tcpLabels, type LabelInput } from '../metrics/labels.js';
import type { MeshMetrics, SeriesOverrides, TcpSeries } from '../metrics/mesh-metrics.js';

export interface Endpoint {
  readonly address: string;
  readonly port?: number;
  /** SPIFFE id when known (mTLS peer or local workload). */
  readonly identity?: string;
  readonly workload?: string;
  readonly namespace?: string;
}

export interface OpenConnection {
  /** `inbound`, `outbound`, `passthrough`, `socks5`, `inbound-plaintext`… */
  readonly direction: string;
  readonly src: Endpoint;
  readonly dst: Endpoint & { readonly service?: string };
  /** Label input for the Istio TCP metrics; no metrics for this connection when absent. */
  readonly metrics?: LabelInput;
  /** Telemetry API metric overrides of the reporter. */
  readonly overrides?: SeriesOverrides;
  /** Called once when the connection closes (Telemetry API access logs). */
  readonly onClose?: (c: ConnectionSnapshot, reason: string) => void;
}

export interface ConnectionSnapshot {
  readonly id: number;
  readonly direction: string;
  readonly src: Endpoint;
  readonly dst: Endpoint & { readonly service?: string };
  readonly start: string;
  readonly durationMs: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

export interface CloseTotals {
  /** Total bytes from the source over the whole connection. */
  readonly received?: number;
  /** Total bytes to the source over the whole connection. */
  readonly sent?: number;
}

/** Running byte counts of an open connection, read when it is listed. */
export type LiveBytes = () => CloseTotals;

export class TrackedConnection {
  private received = 0;
  private sent = 0;
  private closed = false;
  private live: LiveBytes | undefined;
  readonly startMs = Date.now();

  constructor(
    readonly id: number,
    readonly info: OpenConnection,
    private readonly series: TcpSeries | undefined,
    private readonly owner: ConnectionTracker,
  ) {
    series?.opened();
  }

  /** Counted bytes, or the live counts of an open connection when they are ahead. */
  get bytesReceived(): number {
    const n = this.closed ? undefined : this.live?.().received;
    return n !== undefined && n > this.received ? n : this.received;
  }
  get bytesSent(): number {
    const n = this.closed ? undefined : this.live?.().sent;
    return n !== undefined && n > this.sent ? n : this.sent;
  }

  /**
   * Where to read this connection's bytes while it is open (a relay's running counts; the
   * totals still reach the metrics through `close()`). Read only when the connection is listed.
   */
  readLive(read: LiveBytes): void {
    if (!this.closed) this.live = read;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  addReceived(n: number): void {
    if (this.closed) return; // late data events after close() are already in its totals
    this.received += n;
    this.series?.received(n);
  }

  addSent(n: number): void {
    if (this.closed) return;
    this.sent += n;
    this.series?.sent(n);
  }

  /** Idempotent: the first call logs and counts, later calls do nothing. */
  close(reason: string, totals: CloseTotals = {}): void {
    if (this.closed) return;
    if (totals.received !== undefined && totals.received > this.received)
      this.addReceived(totals.received - this.received);
    if (totals.sent !== undefined && totals.sent > this.sent) this.addSent(totals.sent - this.sent);
    this.closed = true;
    this.live = undefined;
    this.series?.closed();
    this.owner.finished(this, reason);
  }

  snapshot(now = Date.now()): ConnectionSnapshot {
    return {
      id: this.id,
      direction: this.info.direction,
      src: this.info.src,
      dst: this.info.dst,
      start: new Date(this.startMs).toISOString(),
      durationMs: now - this.startMs,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
    };
  }
}

export interface ConnectionTrackerOptions {
  metrics?: MeshMetrics;
  log?: Logger;
}

export class ConnectionTracker {
  private readonly open = new Map<number, TrackedConnection>();
  private nextId = 1;
  private readonly log: Logger;
  private readonly metrics: MeshMetrics | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: ConnectionTrackerOptions = {}) {
    this.log = opts.log ?? createLogger('connections');
    this.metrics = opts.metrics;
  }

  get size(): number {
    return this.open.size;
  }

  track(info: OpenConnection): TrackedConnection {
    const series =
      this.metrics && info.metrics ? this.metrics.tcpSeries(tcpLabels(info.metrics), info.overrides) : undefined;
    const c = new TrackedConnection(this.nextId++, info, series, this);
    this.open.set(c.id, c);
    this.metrics?.setActiveConnections(this.open.size);
    return c;
  }

  /** For `/debug/connections`: oldest first. */
  list(): ConnectionSnapshot[] {
    const now = Date.now();
    return [...this.open.values()].map((c) => c.snapshot(now));
  }

  /** Resolves true when no connection is open, false if `timeoutMs` passes first (drain). */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.open.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** Called by TrackedConnection.close. */
  finished(c: TrackedConnection, reason: string): void {
    this.open.delete(c.id);
    this.metrics?.setActiveConnections(this.open.size);
    const { src, dst, direction } = c.info;
    this.log.info('connection complete', {
      id: c.id,
      direction,
      src: { addr: fmtAddr(src), identity: src.identity, workload: src.workload, namespace: src.namespace },
      dst: {
        addr: fmtAddr(dst),
        identity: dst.identity,
        workload: dst.workload,
        namespace: dst.namespace,
        service: dst.service,
      },
      bytes_received: c.bytesReceived,
      bytes_sent: c.bytesSent,
      duration_ms: Date.now() - c.startMs,
      reason,
    });
    c.info.onClose?.(c.snapshot(), reason);
    if (this.open.size === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

function fmtAddr(e: Endpoint): string {
  if (e.port === undefined) return e.address;
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
