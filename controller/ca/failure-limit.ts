// Rate limit of failed authentications per peer address: a token bucket of `burst` failures
// refilled at `perSecond`. While a peer's bucket is empty its requests are refused at once,
// without a TokenReview (an API server round trip) or a token-file check. Successful calls
// cost nothing here. At most `maxPeers` peers are tracked (the oldest is forgotten first).

export interface FailureLimiterOptions {
  burst?: number;
  perSecond?: number;
  maxPeers?: number;
  now?: () => number;
}

export class FailureLimiter {
  private readonly burst: number;
  private readonly perMs: number;
  private readonly maxPeers: number;
  private readonly now: () => number;
  private readonly peers = new Map<string, { tokens: number; at: number }>();

  constructor(opts: FailureLimiterOptions = {}) {
    this.burst = opts.burst ?? 20;
    this.perMs = (opts.perSecond ?? 2) / 1000;
    this.maxPeers = opts.maxPeers ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds until `peer` may try again (0: it may now). */
  blockedFor(peer: string): number {
    const b = this.bucket(peer);
    if (!b || b.tokens >= 1) return 0;
    return Math.ceil((1 - b.tokens) / this.perMs);
  }

  /** Count one failed authentication of `peer`. */
  failed(peer: string): void {
    const b = this.bucket(peer) ?? { tokens: this.burst, at: this.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    this.peers.delete(peer);
    if (this.peers.size >= this.maxPeers) this.peers.delete(this.peers.keys().next().value!);
    this.peers.set(peer, b);
  }

  private bucket(peer: string): { tokens: number; at: number } | undefined {
    const b = this.peers.get(peer);
    if (!b) return undefined;
    const t = this.now();
    b.tokens = Math.min(this.burst, b.tokens + (t - b.at) * this.perMs);
    b.at = t;
    if (b.tokens >= this.burst) this.peers.delete(peer); // full again: nothing to remember
    return b;
  }
}

/** The address part of a gRPC peer string (`10.0.0.1:4321`, `::1:4321`, `ipv6:[::1]:4321`; other forms as they are). */
export function peerHost(peer: string): string {
  const m = /^(?:ipv[46]:)?\[?([0-9a-fA-F.:]*?)\]?:(\d+)$/.exec(peer);
  return m?.[1] || peer;
}
