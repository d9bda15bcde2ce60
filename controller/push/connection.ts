// One client's discovery stream: who it is (first request), what it subscribed to, what it
// holds (name → version per type), and the responses awaiting its ACK/NACK.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/log.js';
import type { DeltaRequest, DeltaResponse, NodeInfo } from '../../core/xds/proto.js';
import { TYPE_SERVICE, TYPE_WORKLOAD } from '../../core/xds/resources.js';
import type { EncodedResource, ResourceSet } from './resources.js';
import type { ClientScope } from './scope.js';

export type DiscoveryStream = grpc.ServerDuplexStream<DeltaRequest, DeltaResponse>;

export interface ConnectionStatus {
  readonly id: number;
  readonly node: string;
  readonly role: string;
  readonly namespace: string;
  readonly types: readonly string[];
  readonly acks: number;
  readonly nacks: number;
  readonly lastNack?: string;
}

export class ClientConnection {
  /** type → name → version the client holds (as far as we know). */
  private readonly held = new Map<string, Map<string, string>>();
  /** Types subscribed but not answered yet (waiting for the first configuration). */
  private readonly unanswered = new Set<string>();
  private readonly inflight = new Map<string, string>(); // nonce → type
  /** type → nonce of its response not yet ACKed/NACKed: at most one per type is in flight. */
  private readonly awaiting = new Map<string, string>();
  private nonceSeq = 0;
  /** The resource set every answered type of this client reflects. */
  private syncedTo: ResourceSet | undefined;
  private scopeKey: string | undefined;
  /** The scope of the last push (what `held` reflects once `syncedTo` is set). */
  private lastScope: ClientScope | undefined;
  /** On-demand subscriptions (addresses, hostnames), and those not answered yet. */
  private readonly subscribed = new Set<string>();
  private answers: string[] = [];
  /** A push skipped a type that was still in flight: the client is behind the current set. */
  private behind = false;
  acks = 0;
  nacks = 0;
  lastNack: string | undefined;

  constructor(
    readonly id: number,
    readonly node: NodeInfo,
    private readonly stream: DiscoveryStream,
    private readonly log: Logger,
  ) {}

  status(): ConnectionStatus {
    return {
      id: this.id,
      node: this.node.name,
      role: this.node.role,
      namespace: this.node.namespace,
      types: [...this.held.keys()],
      acks: this.acks,
      nacks: this.nacks,
      ...(this.lastNack ? { lastNack: this.lastNack } : {}),
    };
  }

  /** True when the type has a subscription on this stream. */
  has(type: string): boolean {
    return this.held.has(type);
  }

  /** A subscription: remember what the client says it holds; answer on the next push. */
  subscribe(type: string, initialVersions: Record<string, string>): void {
    this.held.set(type, new Map(Object.entries(initialVersions)));
    this.unanswered.add(type);
  }

  /** On-demand subscriptions by address or hostname; each is answered on the next push. */
  subscribeNames(names: readonly string[]): void {
    for (const n of names) this.subscribed.add(n);
    this.answers.push(...names);
  }

  /** The addresses and hostnames this client subscribed to on demand. */
  get onDemand(): ReadonlySet<string> {
    return this.subscribed;
  }

  /** Whether the next push has something to catch up on (a skipped type, an unanswered lookup). */
  get needsPush(): boolean {
    return this.behind || this.answers.length > 0;
  }

  /** Responses written and not yet answered (bounded by the number of subscribed types). */
  get inFlight(): number {
    return this.awaiting.size;
  }

  /** An ACK/NACK; returns the NACK's type and message, if it was one. */
  acknowledge(req: DeltaRequest): { type: string; message: string } | undefined {
    const type = this.inflight.get(req.responseNonce) ?? req.typeUrl;
    this.inflight.delete(req.responseNonce);
    if (this.awaiting.get(type) === req.responseNonce) this.awaiting.delete(type);
    if (!req.errorDetail) {
      this.acks++;
      return undefined;
    }
    this.nacks++;
    const names = req.errorDetail.resources.map((r) => r.name);
    this.lastNack = `${type}: ${req.errorDetail.message}`;
    this.log.warn('client rejected configuration (NACK)', {
      node: this.node.name,
      role: this.node.role,
      type,
      nonce: req.responseNonce,
      resources: names,
      err: req.errorDetail.message,
    });
    return { type, message: req.errorDetail.message };
  }

  /**
   * Sends, per subscribed type, the resources whose version differs from what the client
   * holds, and the names it holds that are gone. A first answer is sent even when empty
   * (it tells the client the type is complete). With `delta` (the names that changed since
   * `delta.base`), a client already in step with `base` is diffed on those names only, so a
   * push costs O(changes) per client instead of O(resources); a changed `scope` (a pod
   * moved to or off the node, a new on-demand lookup) falls back to a comparison over the
   * scope's candidate names.
   *
   * Backpressure: a type whose previous response the client has not answered yet is
   * skipped; once it answers, the server pushes again and the client gets the current
   * versions (never the versions in between). So a slow or stuck client holds at most one
   * response per type, and never delays the others. Returns the types sent.
   */
  push(
    set: ResourceSet,
    systemVersion: string,
    scope: ClientScope,
    delta?: { base: ResourceSet; changed: ReadonlyMap<string, readonly string[]> },
  ): string[] {
    const inStep = delta !== undefined && this.syncedTo === delta.base && this.scopeKey === scope.key;
    // Already reflecting this very set: only a new on-demand lookup (a changed scope key) can
    // change what the client must hold, and only workloads and services.
    const sameSet = this.syncedTo === set;
    const sameScope = this.scopeKey === scope.key;
    // In step with the base (or this very set) under a scope that differs only in what the
    // lookups resolve to: the changed names plus those that entered or left the resolution.
    const moved =
      !sameScope && (sameSet || (delta !== undefined && this.syncedTo === delta.base))
        ? wantedChange(this.lastScope, scope)
        : undefined;
    this.scopeKey = scope.key;
    this.lastScope = scope;
    const out: DeltaResponse[] = [];
    let skipped = false;
    for (const [type, held] of this.held) {
      if (this.awaiting.has(type)) {
        skipped = true;
        continue;
      }
      const current = set.get(type) ?? new Map<string, EncodedResource>();
      const first = this.unanswered.delete(type);
      if (!first && sameSet && (sameScope || (type !== TYPE_WORKLOAD && type !== TYPE_SERVICE))) continue;
      const changed = first
        ? undefined
        : inStep
          ? (delta.changed.get(type) ?? [])
          : moved
            ? [...(sameSet ? [] : (delta?.changed.get(type) ?? [])), ...(moved.get(type) ?? [])]
            : undefined;
      const scoped = changed === undefined ? scope.candidates?.(type) : undefined;
      const names =
        changed ?? (scoped ? new Set([...scoped, ...held.keys()]) : new Set([...current.keys(), ...held.keys()]));
      const resources: DeltaResponse['resources'] = [];
      const removedResources: string[] = [];
      for (const name of names) {
        const r = current.get(name);
        if (r && scope.includes(type, name, r)) {
          if (held.get(name) !== r.version) resources.push({ name, version: r.version, body: r.body });
        } else if (held.has(name)) {
          removedResources.push(name);
        }
      }
      if (!first && resources.length === 0 && removedResources.length === 0) continue;
      for (const r of resources) held.set(r.name, r.version);
      for (const n of removedResources) held.delete(n);
      out.push({ typeUrl: type, systemVersion, resources, removedResources, nonce: '' });
    }
    // On-demand lookups are answered once what they select has been written.
    if (this.answers.length > 0 && !this.awaiting.has(TYPE_WORKLOAD) && !this.awaiting.has(TYPE_SERVICE)) {
      const carrier =
        out[out.length - 1] ??
        (this.held.has(TYPE_SERVICE)
          ? out[out.push({ typeUrl: TYPE_SERVICE, systemVersion, resources: [], removedResources: [], nonce: '' }) - 1]
          : undefined);
      if (carrier) {
        carrier.answeredSubscriptions = this.answers;
        this.answers = [];
      }
    }
    for (const res of out) {
      res.nonce = `${this.id}-${++this.nonceSeq}`;
      this.inflight.set(res.nonce, res.typeUrl);
      this.awaiting.set(res.typeUrl, res.nonce);
      this.stream.write(res);
    }
    this.syncedTo = skipped ? undefined : set;
    this.behind = skipped;
    return out.map((r) => r.typeUrl);
  }

  close(): void {
    this.stream.end();
  }
}

/** Names whose membership differs between two on-demand scopes of the same base; undefined when not comparable. */
function wantedChange(before: ClientScope | undefined, after: ClientScope): Map<string, string[]> | undefined {
  if (!before?.wanted || !after.wanted || before.baseKey === undefined || before.baseKey !== after.baseKey)
    return undefined;
  const diff = (a: ReadonlySet<string>, b: ReadonlySet<string>): string[] => {
    const out: string[] = [];
    for (const n of a) if (!b.has(n)) out.push(n);
    for (const n of b) if (!a.has(n)) out.push(n);
    return out;
  };
  return new Map([
    [TYPE_WORKLOAD, diff(before.wanted.workloads, after.wanted.workloads)],
    [TYPE_SERVICE, diff(before.wanted.services, after.wanted.services)],
  ]);
}
