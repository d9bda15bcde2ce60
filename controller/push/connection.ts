// One client's discovery stream: who it is (first request), what it subscribed to, what it
// holds (name → version per type), and the responses awaiting its ACK/NACK.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../core/log.js';
import type { DeltaRequest, DeltaResponse, NodeInfo } from '../../core/xds/proto.js';
import type { ResourceSet } from './resources.js';
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
  private nonceSeq = 0;
  /** The resource set every answered type of this client reflects. */
  private syncedTo: ResourceSet | undefined;
  private scopeKey: string | undefined;
  acks = 0;
  nacks = 0;
  lastNack: string | undefined;

  constructor(readonly id: number, readonly node: NodeInfo, private readonly stream: DiscoveryStream, private readonly log: Logger) {}

  status(): ConnectionStatus {
    return {
      id: this.id, node: this.node.name, role: this.node.role, namespace: this.node.namespace, types: [...this.held.keys()],
      acks: this.acks, nacks: this.nacks, ...(this.lastNack ? { lastNack: this.lastNack } : {}),
    };
  }

  /** A subscription: remember what the client says it holds; answer on the next push. */
  subscribe(type: string, initialVersions: Record<string, string>): void {
    this.held.set(type, new Map(Object.entries(initialVersions)));
    this.unanswered.add(type);
  }

  /** An ACK/NACK; returns the NACK's type and message, if it was one. */
  acknowledge(req: DeltaRequest): { type: string; message: string } | undefined {
    const type = this.inflight.get(req.responseNonce) ?? req.typeUrl;
    this.inflight.delete(req.responseNonce);
    if (!req.errorDetail) { this.acks++; return undefined; }
    this.nacks++;
    const names = req.errorDetail.resources.map((r) => r.name);
    this.lastNack = `${type}: ${req.errorDetail.message}`;
    this.log.warn('client rejected configuration (NACK)', { node: this.node.name, role: this.node.role, type, nonce: req.responseNonce, resources: names, error: req.errorDetail.message });
    return { type, message: req.errorDetail.message };
  }

  /**
   * Sends, per subscribed type, the resources whose version differs from what the client
   * holds, and the names it holds that are gone. A first answer is sent even when empty
   * (it tells the client the type is complete). With `delta` (the names that changed since
   * `delta.base`), a client already in step with `base` is diffed on those names only, so a
   * push costs O(changes) per client instead of O(resources); a changed `scope` (a pod
   * moved to or off the node) falls back to the full comparison. Returns the types sent.
   */
  push(set: ResourceSet, systemVersion: string, scope: ClientScope, delta?: { base: ResourceSet; changed: ReadonlyMap<string, readonly string[]> }): string[] {
    const sent: string[] = [];
    const inStep = delta !== undefined && this.syncedTo === delta.base && this.scopeKey === scope.key;
    this.scopeKey = scope.key;
    for (const [type, held] of this.held) {
      const current = set.get(type) ?? new Map();
      const first = this.unanswered.delete(type);
      const candidates = inStep && !first ? delta.changed.get(type) ?? [] : undefined;
      const resources: DeltaResponse['resources'] = [];
      const removedResources: string[] = [];
      for (const name of candidates ?? new Set([...current.keys(), ...held.keys()])) {
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
      const nonce = `${this.id}-${++this.nonceSeq}`;
      this.inflight.set(nonce, type);
      this.stream.write({ typeUrl: type, systemVersion, resources, removedResources, nonce });
      sent.push(type);
    }
    this.syncedTo = set;
    return sent;
  }

  close(): void { this.stream.end(); }
}
