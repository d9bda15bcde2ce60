// Discovery client: one gRPC stream to the controller over TLS, subscribed to a fixed set of
// resource types. Each received resource is checked; a malformed one is NACKed and its
// previous version kept, the rest is applied. Once every type has arrived, the consumer
// gets the whole accepted set and returns the problems it found (non-empty → NACK). When
// the stream breaks, the accepted set keeps serving and the client reconnects with
// exponential backoff, telling the server what it holds so only differences are resent.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { createLogger, type Logger } from '../log.js';
import { describeError } from '../errors.js';
import { discoveryService, type DeltaRequest, type DeltaResponse, type NodeInfo, type ResourceError } from './proto.js';
import { decodeResource, type ResourceMap } from './resources.js';

export interface DiscoveryClientOptions {
  /** host:port of the controller (15012). */
  address: string;
  /** PEM trust bundle: the controller's CA root(s). */
  rootsPem: string;
  /** SPIFFE id the controller's certificate must carry; default: any spiffe:// URI SAN. */
  controllerIdentity?: string;
  node: { name: string; role: 'agent' | 'waypoint'; namespace?: string; metadata?: Record<string, string> };
  types: readonly string[];
  /**
   * Bearer token proving who the client is (the node token file entry in file mode, the
   * service-account token in kube mode); a function is called on every (re)connect.
   */
  token?: string | (() => string | Promise<string>);
  /** Extra call metadata. */
  metadata?: Record<string, string>;
  backoff?: { initialMs?: number; maxMs?: number };
  /** How long `lookup()` waits for the controller's answer before giving up (default 5 s). */
  lookupTimeoutMs?: number;
  log?: Logger;
}

/** Applies the accepted resources; returns problems (empty = applied). */
export type UpdateHandler = (resources: ReadonlyMap<string, ResourceMap>, systemVersion: string) => readonly string[];

interface Held {
  version: string;
  value: unknown;
}
/** Largest discovery response a client accepts (the controller sends at most this much). */
export const MAX_DISCOVERY_MESSAGE_BYTES = 512 * 1024 * 1024;

interface PendingAck {
  call: grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>;
  typeUrl: string;
  nonce: string;
  errors: ResourceError[];
}

export interface DiscoveryClientStatus {
  connected: boolean;
  synced: boolean;
  systemVersion: string;
  resources: Record<string, number>;
  acks: number;
  nacks: number;
  reconnects: number;
  lastError?: string;
}

export class DiscoveryClient {
  private readonly log: Logger;
  private readonly held = new Map<string, Map<string, Held>>();
  private readonly everReceived = new Set<string>();
  private readonly client: grpc.Client;
  private call: grpc.ClientDuplexStream<DeltaRequest, DeltaResponse> | undefined;
  /** The call that has delivered a response (the stream is really up). */
  private answered: grpc.ClientDuplexStream<DeltaRequest, DeltaResponse> | undefined;
  private pending: PendingAck[] = [];
  private changed = false;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private stopped = true;
  private handler: UpdateHandler | undefined;
  private readonly counters = { acks: 0, nacks: 0, reconnects: 0 };
  private systemVersion = '';
  private lastError: string | undefined;
  private syncWaiters: Array<() => void> = [];
  /** On-demand names asked for (resent on every reconnect), and callers waiting for their answer. */
  private readonly onDemand = new Set<string>();
  private readonly lookupWaiters = new Map<string, Array<() => void>>();
  private answered_: string[] = [];

  constructor(private readonly opts: DiscoveryClientOptions) {
    this.log = opts.log ?? createLogger('xds-client', { controller: opts.address });
    this.backoffMs = opts.backoff?.initialMs ?? 200;
    for (const t of opts.types) this.held.set(t, new Map());
    const expected = opts.controllerIdentity;
    const creds = grpc.credentials.createSsl(Buffer.from(opts.rootsPem), null, null, {
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const sans = (cert.subjectaltname ?? '').split(',').map((s) => s.trim());
        const ok = expected ? sans.includes(`URI:${expected}`) : sans.some((s) => s.startsWith('URI:spiffe://'));
        return ok
          ? undefined
          : new Error(
              `controller certificate does not carry ${expected ?? 'a SPIFFE id'} (has ${cert.subjectaltname ?? 'none'})`,
            );
      },
    });
    const Ctor = discoveryService();
    // The controller is verified by its SPIFFE id, not a host name; a fixed name also keeps
    // an IP address out of TLS SNI.
    this.client = new Ctor(opts.address, creds, {
      'grpc.ssl_target_name_override': 'ambit-controller',
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 100,
      // A first push carries every workload of the mesh: gRPC's default 4 MiB cap refuses it
      // past about 2,000 services (measured by bench/controller).
      'grpc.max_receive_message_length': MAX_DISCOVERY_MESSAGE_BYTES,
    });
  }

  start(handler: UpdateHandler): void {
    this.handler = handler;
    this.stopped = false;
    this.connect();
  }

  /** Resolves once the first complete set was handed to the handler. */
  whenSynced(): Promise<void> {
    if (this.isSynced()) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  status(): DiscoveryClientStatus {
    const resources: Record<string, number> = {};
    for (const [t, m] of this.held) resources[t] = m.size;
    return {
      connected: this.call !== undefined && this.answered === this.call,
      synced: this.isSynced(),
      systemVersion: this.systemVersion,
      resources,
      ...this.counters,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.call = undefined;
    this.client.close();
  }

  /**
   * On demand: asks the controller for what an address or hostname selects (a Service with
   * that VIP or hostname and its endpoints' workloads, or the Workload with that IP) and
   * resolves once the answer has been handed to the handler. Never rejects: after
   * `lookupTimeoutMs` without an answer (controller unreachable) it resolves anyway, and the
   * caller goes on with what it holds. A name asked for before resolves at once.
   */
  lookup(name: string): Promise<void> {
    const waiting = this.lookupWaiters.get(name);
    if (!waiting && this.onDemand.has(name)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.opts.lookupTimeoutMs ?? 5000);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      if (waiting) {
        waiting.push(done);
        return;
      }
      this.lookupWaiters.set(name, [done]);
      this.onDemand.add(name);
      // Not connected: the name goes with the next stream's first requests. Connected (even
      // before the first answer): the server reads requests in order, after the subscriptions.
      if (this.call) {
        this.call.write({
          typeUrl: this.onDemandType(),
          initialVersions: {},
          responseNonce: '',
          resourceNamesSubscribe: [name],
        });
      }
    });
  }

  private onDemandType(): string {
    return this.opts.types.find((t) => t === 'ambit.mesh/Service') ?? this.opts.types[0]!;
  }

  private isSynced(): boolean {
    return this.opts.types.every((t) => this.everReceived.has(t));
  }

  private connect(): void {
    if (this.stopped) return;
    const token = this.opts.token;
    if (typeof token === 'function') {
      Promise.resolve()
        .then(token)
        .then(
          (t) => this.open(t),
          (err: unknown) => this.retry(`cannot read the token: ${describeError(err)}`),
        );
    } else {
      this.open(token);
    }
  }

  private open(token: string | undefined): void {
    if (this.stopped) return;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.opts.metadata ?? {})) md.set(k, v);
    if (token) md.set('authorization', `Bearer ${token}`);
    md.set('ambit-node-name', this.opts.node.name);
    const call = (
      this.client as unknown as {
        DeltaResources(md: grpc.Metadata): grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>;
      }
    ).DeltaResources(md);
    this.call = call;
    const node: NodeInfo = {
      name: this.opts.node.name,
      role: this.opts.node.role,
      namespace: this.opts.node.namespace ?? '',
      metadata: this.opts.node.metadata ?? {},
    };
    const onDemandType = this.onDemandType();
    this.opts.types.forEach((typeUrl, i) => {
      const initialVersions: Record<string, string> = {};
      for (const [name, h] of this.held.get(typeUrl)!) initialVersions[name] = h.version;
      const names =
        typeUrl === onDemandType && this.onDemand.size > 0 ? { resourceNamesSubscribe: [...this.onDemand] } : {};
      call.write({ ...(i === 0 ? { node } : {}), typeUrl, initialVersions, responseNonce: '', ...names });
    });
    call.on('data', (res: DeltaResponse) => this.onResponse(call, res));
    call.on('error', (err: grpc.ServiceError) => this.onBroken(call, err));
    call.on('end', () => this.onBroken(call, undefined));
  }

  private onBroken(
    call: grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>,
    err: grpc.ServiceError | undefined,
  ): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.pending = this.pending.filter((p) => p.call !== call);
    if (this.stopped) return;
    this.retry(err ? describeError(err) : 'stream ended by the controller');
  }

  private retry(reason: string): void {
    this.lastError = reason;
    const delay = Math.round(this.backoffMs * (0.8 + Math.random() * 0.4));
    this.log.warn('discovery stream lost; keeping the last config and reconnecting', {
      error: this.lastError,
      retryInMs: delay,
    });
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoff?.maxMs ?? 10_000);
    this.counters.reconnects++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private onResponse(call: grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>, res: DeltaResponse): void {
    if (call !== this.call) return;
    this.answered = call;
    this.backoffMs = this.opts.backoff?.initialMs ?? 200;
    this.lastError = undefined;
    const held = this.held.get(res.typeUrl);
    const errors: ResourceError[] = [];
    if (!held) {
      errors.push({ name: '*', message: `type ${res.typeUrl} was not subscribed` });
    } else {
      for (const r of res.resources) {
        try {
          const value = decodeResource(res.typeUrl, r.name, r.body);
          held.set(r.name, { version: r.version, value });
          this.changed = true;
        } catch (err) {
          errors.push({ name: r.name, message: (err as Error).message });
        }
      }
      for (const name of res.removedResources) if (held.delete(name)) this.changed = true;
      if (!this.everReceived.has(res.typeUrl)) {
        this.everReceived.add(res.typeUrl);
        this.changed = true;
      }
    }
    if (res.systemVersion) this.systemVersion = res.systemVersion;
    if (res.answeredSubscriptions?.length) this.answered_.push(...res.answeredSubscriptions);
    this.pending.push({ call, typeUrl: res.typeUrl, nonce: res.nonce, errors });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands the accepted set to the handler (once all types are in), then ACKs/NACKs. */
  private flush(): void {
    this.flushScheduled = false;
    if (!this.isSynced()) return; // wait for every type's first response
    let problems: readonly string[] = [];
    if (this.changed) {
      this.changed = false;
      const view = new Map<string, ResourceMap>();
      for (const [t, m] of this.held) view.set(t, new Map([...m].map(([n, h]) => [n, h.value])));
      try {
        problems = this.handler?.(view, this.systemVersion) ?? [];
      } catch (err) {
        problems = [describeError(err)];
      }
      for (const w of this.syncWaiters.splice(0)) w();
    }
    // On-demand answers: what they selected is in the set the handler has now.
    for (const name of this.answered_.splice(0)) {
      for (const w of this.lookupWaiters.get(name) ?? []) w();
      this.lookupWaiters.delete(name);
    }
    for (const p of this.pending.splice(0)) {
      if (p.call !== this.call) continue;
      if (p.errors.length || problems.length) {
        const message = [...p.errors.map((e) => e.message), ...problems].join('; ');
        this.counters.nacks++;
        this.log.warn('rejecting configuration (NACK)', { type: p.typeUrl, nonce: p.nonce, problems: message });
        p.call.write({
          typeUrl: p.typeUrl,
          initialVersions: {},
          responseNonce: p.nonce,
          errorDetail: { message, resources: p.errors },
        });
      } else {
        this.counters.acks++;
        p.call.write({ typeUrl: p.typeUrl, initialVersions: {}, responseNonce: p.nonce });
      }
    }
  }
}
