// The discovery server (MeshDiscovery on the controller's gRPC server, 15012). It holds the
// current resource set; `update()` replaces it and schedules a push after a debounce window,
// so a burst of changes becomes one push. Each connected client gets only what changed for
// the types it subscribed to, within its scope.
import * as grpc from '@grpc/grpc-js';
import { createLogger, type Logger } from '../../core/log.js';
import { describeError } from '../../core/errors.js';
import { discoveryService, type DeltaRequest } from '../../core/xds/proto.js';
import { ClientConnection, type ConnectionStatus, type DiscoveryStream } from './connection.js';
import type { ControllerMetrics } from './metrics.js';
import { changedNames, type ResourceSet } from './resources.js';
import { ScopeIndex } from './scope.js';

export interface DiscoveryServerOptions {
  /** Coalescing window for changes (default 100 ms). */
  debounceMs?: number;
  metrics?: ControllerMetrics;
  log?: Logger;
  /** Optional admission check of a new stream (e.g. token); returns an error message to refuse it. */
  admit?: (
    node: { name: string; role: string; namespace: string },
    metadata: grpc.Metadata,
  ) => Promise<string | undefined>;
}

export class DiscoveryServer {
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly connections = new Set<ClientConnection>();
  private current: ResourceSet | undefined;
  /** The set of the last flush: the base of the next flush's delta. */
  private flushed: ResourceSet | undefined;
  private scopes: ScopeIndex | undefined;
  private systemVersion = '';
  private timer: NodeJS.Timeout | undefined;
  private pendingSince = 0;
  /** A client caught up (on its ACK) with a set not flushed yet: that push counts for the latency too. */
  private pushedEarly = false;
  private connSeq = 0;

  constructor(private readonly opts: DiscoveryServerOptions = {}) {
    this.log = opts.log ?? createLogger('push');
    this.debounceMs = opts.debounceMs ?? 100;
  }

  /** Adds the MeshDiscovery service to a gRPC server (the same one as the CA service). */
  register(server: grpc.Server): void {
    server.addService(discoveryService().service, {
      DeltaResources: (call: DiscoveryStream) => this.onStream(call),
    });
  }

  /**
   * New configuration; pushed to clients after the debounce window. `changedAt`
   * (performance.now() of the change that caused it) feeds the push latency histogram.
   */
  update(set: ResourceSet, systemVersion: string, changedAt: number = performance.now()): void {
    const first = this.current === undefined;
    this.current = set;
    this.systemVersion = systemVersion;
    if (!this.pendingSince || changedAt < this.pendingSince) this.pendingSince = changedAt;
    if (first) {
      this.flush();
      return;
    } // clients waiting for their first answer get it now
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  /** True once a configuration has been set (clients get answers). */
  get hasConfig(): boolean {
    return this.current !== undefined;
  }

  clients(): ConnectionStatus[] {
    return [...this.connections].map((c) => c.status());
  }

  /** Responses written to each client and not yet answered, by connection id (tests, debugging). */
  inFlight(): Map<number, number> {
    return new Map([...this.connections].map((c) => [c.id, c.inFlight]));
  }

  close(): void {
    clearTimeout(this.timer);
    for (const c of this.connections) c.close();
    this.connections.clear();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.current) return;
    // What changed is computed once; clients in step with the last flush are diffed on it only.
    const delta = this.flushed ? { base: this.flushed, changed: changedNames(this.flushed, this.current) } : undefined;
    // The scope index follows the same names (a full rebuild when it indexes another set).
    if (delta && this.scopes && this.scopes.set !== this.current)
      this.scopes = this.scopes.advance(this.current, delta.base, delta.changed);
    let sent = 0;
    let deferred = 0; // clients with a response still in flight get this push on their ACK
    for (const c of this.connections) {
      sent += this.pushTo(c, delta);
      if (c.needsPush) deferred++;
    }
    this.flushed = this.current;
    if ((sent || deferred || this.pushedEarly) && this.pendingSince)
      this.opts.metrics?.pushLatency.observe((performance.now() - this.pendingSince) / 1000);
    this.pendingSince = 0;
    this.pushedEarly = false;
    this.log.debug('pushed', {
      version: this.systemVersion,
      responses: sent,
      deferred,
      clients: this.connections.size,
    });
  }

  private pushTo(c: ClientConnection, delta?: Parameters<ClientConnection['push']>[3]): number {
    if (!this.current) return 0;
    try {
      if (this.scopes?.set !== this.current) this.scopes = new ScopeIndex(this.current);
      const types = c.push(this.current, this.systemVersion, this.scopes.scopeFor(c.node, c.onDemand), delta);
      for (const type of types) this.opts.metrics?.pushes.inc({ type });
      if (types.length > 0 && !delta && this.current !== this.flushed) this.pushedEarly = true;
      return types.length;
    } catch (err) {
      this.log.warn('push failed', { node: c.node.name, err: describeError(err) });
      return 0;
    }
  }

  private onStream(call: DiscoveryStream): void {
    let conn: ClientConnection | undefined;
    let admitted: Promise<boolean> | undefined;
    const queue: DeltaRequest[] = [];
    const handle = (req: DeltaRequest): void => {
      if (!conn) return;
      if (req.responseNonce) {
        const nack = conn.acknowledge(req);
        if (nack) this.opts.metrics?.nacks.inc({ type: nack.type });
        // A client that was skipped while it had a response in flight catches up now.
        if (conn.needsPush && this.current) this.pushTo(conn);
        return;
      }
      if (!req.typeUrl) return;
      const names = req.resourceNamesSubscribe ?? [];
      // A request for a type already subscribed only adds on-demand names.
      if (!conn.has(req.typeUrl) || names.length === 0) conn.subscribe(req.typeUrl, req.initialVersions ?? {});
      if (names.length > 0) conn.subscribeNames(names);
      if (this.current) this.pushTo(conn);
    };
    call.on('data', (req: DeltaRequest) => {
      if (!admitted) {
        const node = req.node;
        if (
          !node?.name ||
          !['agent', 'waypoint'].includes(node.role) ||
          (node.role === 'waypoint' && !node.namespace)
        ) {
          call.emit('error', {
            code: grpc.status.INVALID_ARGUMENT,
            details: 'first request must carry node {name, role agent|waypoint, namespace for a waypoint}',
          });
          return;
        }
        admitted = this.admit(call, node).then((ok) => {
          if (!ok) return false;
          conn = new ClientConnection(++this.connSeq, { ...node, metadata: node.metadata ?? {} }, call, this.log);
          this.connections.add(conn);
          this.opts.metrics?.connectedClients.inc({ role: node.role });
          this.log.info('client connected', {
            node: node.name,
            role: node.role,
            namespace: node.namespace || undefined,
          });
          for (const q of queue.splice(0)) handle(q);
          return true;
        });
      }
      if (conn) handle(req);
      else queue.push(req);
    });
    const done = (): void => {
      if (!conn || !this.connections.delete(conn)) return;
      this.opts.metrics?.connectedClients.dec({ role: conn.node.role });
      this.log.info('client disconnected', { node: conn.node.name, role: conn.node.role });
    };
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('cancelled', done);
    call.on('close', done);
  }

  private async admit(
    call: DiscoveryStream,
    node: { name: string; role: string; namespace: string },
  ): Promise<boolean> {
    if (!this.opts.admit) return true;
    const refusal = await this.opts.admit(node, call.metadata).catch((err: unknown) => describeError(err));
    if (!refusal) return true;
    this.log.warn('client refused', { node: node.name, role: node.role, reason: refusal });
    call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: refusal });
    return false;
  }
}
