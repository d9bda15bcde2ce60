// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// the holder renews `spec.renewTime` every retry period; a candidate takes the lease over only
// when the record it observed has not changed for `leaseDurationSeconds` of its OWN clock (so
// clocks of different machines need not agree); every write carries the resourceVersion read,
// and a 409 Conflict means someone else wrote first (this round is lost). A leader that cannot
// renew within the renew deadline stops leading before its lease can expire for the others.
// Only the leader performs the controller's writes; every replica serves discovery and the CA.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Manifest, WaypointKubeClient } from '../waypoints/index.js';

/** The calls the elector makes (the waypoint REST client serves Leases). */
export type LeaseClient = Pick<WaypointKubeClient, 'get' | 'create' | 'replace'>;

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  /** Unique per replica (pod name plus a random suffix). */
  identity: string;
  /** How long others wait after the last renewal they saw (default 15 s). */
  leaseDurationSeconds?: number;
  /** The leader gives up when it could not renew for this long (default 10 s; < lease duration). */
  renewDeadlineMs?: number;
  /** Pause between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  log: Logger;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

const LEASE_API = 'coordination.k8s.io/v1';

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown } | undefined)?.status;
  return typeof s === 'number' ? s : undefined;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** The record last read and when (our clock) it last changed. */
  private observed: { key: string; at: number } | undefined;
  private lastRenew = 0;
  private readonly durationS: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.durationS = opts.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor(this.durationS * 1000 * (2 / 3));
    this.retryMs = opts.retryPeriodMs ?? 2000;
    this.now = opts.now ?? (() => performance.now());
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get identity(): string {
    return this.opts.identity;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops trying; a leader releases the lease (holder cleared) so another takes over at once. */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (!this.leading) return;
    this.setLeading(false);
    if (!release) return;
    await this.release().catch((err: unknown) =>
      this.opts.log.warn('cannot release the leader lease', { err: describeError(err) }),
    );
  }

  /** One attempt to acquire or renew (exported for tests); true when this replica holds the lease. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const ref = { apiVersion: LEASE_API, kind: 'Lease', namespace: this.opts.namespace, name: this.opts.name };
    const now = new Date();
    const current = await this.opts.client.get(ref);
    const mine: LeaseSpec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: this.durationS,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!current) {
      const lease: Manifest = { ...ref, metadata: { namespace: ref.namespace, name: ref.name } };
      await this.opts.client.create({ ...lease, spec: mine } as Manifest);
      this.observe(mine);
      return true;
    }
    const spec = ((current as { spec?: LeaseSpec }).spec ?? {}) as LeaseSpec;
    this.observe(spec);
    const held = spec.holderIdentity !== undefined && spec.holderIdentity !== '';
    const isMine = spec.holderIdentity === this.opts.identity;
    const duration = (spec.leaseDurationSeconds ?? this.durationS) * 1000;
    if (held && !isMine && this.now() < this.observed!.at + duration) return false;
    const next: LeaseSpec = isMine
      ? { ...mine, acquireTime: spec.acquireTime ?? mine.acquireTime, leaseTransitions: spec.leaseTransitions ?? 0 }
      : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + (held ? 1 : 0) };
    // The resourceVersion read travels with the write: 409 when anyone wrote in between.
    await this.opts.client.replace({ ...current, ...ref, spec: next } as Manifest);
    this.observe(next);
    return true;
  }

  private observe(spec: LeaseSpec): void {
    const key = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${spec.leaseDurationSeconds ?? ''}`;
    if (this.observed?.key !== key) this.observed = { key, at: this.now() };
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => this.schedule(this.retryMs));
    }, delayMs);
  }

  private async round(): Promise<void> {
    let held = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (err) {
      if (statusOf(err) !== 409)
        this.opts.log.warn('leader lease attempt failed', { err: describeError(err), lease: this.opts.name });
    }
    if (this.stopped) return;
    if (held) {
      this.lastRenew = this.now();
      if (!this.leading) this.setLeading(true);
    } else if (this.leading && (this.now() - this.lastRenew >= this.renewDeadlineMs || !this.stillMine())) {
      this.setLeading(false);
    }
  }

  /** After a failed renewal: the lease is still ours unless we saw another holder. */
  private stillMine(): boolean {
    return this.observed?.key.startsWith(`${this.opts.identity}|`) ?? false;
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.opts.log.info(leading ? 'became the leader' : 'stopped leading', {
      identity: this.opts.identity,
      lease: `${this.opts.namespace}/${this.opts.name}`,
    });
    if (leading) this.opts.onStartedLeading?.();
    else this.opts.onStoppedLeading?.();
  }

  private async release(): Promise<void> {
    const ref = { apiVersion: LEASE_API, kind: 'Lease', namespace: this.opts.namespace, name: this.opts.name };
    const current = await this.opts.client.get(ref);
    const spec = (current as { spec?: LeaseSpec } | undefined)?.spec;
    if (!current || spec?.holderIdentity !== this.opts.identity) return;
    const now = microTime(new Date());
    const released: LeaseSpec = { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now };
    await this.opts.client.replace({ ...current, ...ref, spec: released } as Manifest);
  }
}

/** The Lease the controller replicas compete for, in the controller's namespace. */
export const LEADER_LEASE_NAME = 'ambit-controller';

/** This replica's holder identity: the pod name (its hostname) and a random suffix, as client-go does. */
export function replicaIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}
