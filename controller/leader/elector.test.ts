// The leader elector against the test API server (real REST, Lease resourceVersions and 409s).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer, EXTRA_CORE_RESOURCES } from '../../test/support/fake-apiserver.js';
import { createLogger } from '../../core/log.js';
import { restWaypointClient, type WaypointKubeClient } from '../waypoints/index.js';
import { LeaderElector, type LeaseSpec } from './elector.js';

const NS = 'ambit-system';
const LEASE = 'ambit-controller';
const log = createLogger('leader-test');

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('LeaderElector', () => {
  let server: FakeApiServer;
  let client: WaypointKubeClient;
  const electors: LeaderElector[] = [];

  beforeEach(async () => {
    server = await FakeApiServer.start();
    server.serve(EXTRA_CORE_RESOURCES.find((r) => r.plural === 'leases')!);
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig());
    client = restWaypointClient(kc);
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop(false)));
    await server.close();
  });

  const elector = (identity: string, extra: Partial<ConstructorParameters<typeof LeaderElector>[0]> = {}) => {
    const e = new LeaderElector({
      client,
      namespace: NS,
      name: LEASE,
      identity,
      leaseDurationSeconds: 1,
      renewDeadlineMs: 600,
      retryPeriodMs: 100,
      log,
      ...extra,
    });
    electors.push(e);
    return e;
  };
  const spec = (): LeaseSpec =>
    (server.getObject('Lease', LEASE, NS, 'coordination.k8s.io') as unknown as { spec: LeaseSpec }).spec;

  it('elects exactly one of two; the other takes over once the leader stops renewing', async () => {
    const a = elector('a');
    const b = elector('b');
    a.start();
    b.start();
    await until(() => a.isLeader || b.isLeader, 'a leader');
    // Several renew periods: still exactly one, and the lease names it.
    await new Promise((r) => setTimeout(r, 500));
    expect([a.isLeader, b.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, other] = a.isLeader ? [a, b] : [b, a];
    expect(spec().holderIdentity).toBe(leader.identity);
    expect(spec().leaseDurationSeconds).toBe(1);
    const acquired = spec().acquireTime;
    await until(() => spec().renewTime !== acquired, 'a renewal');
    expect(spec().acquireTime).toBe(acquired);

    // The leader dies without releasing: the other waits out the lease duration, then takes over.
    const stoppedAt = Date.now();
    await leader.stop(false);
    await until(() => other.isLeader, 'the takeover');
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(900);
    expect(spec().holderIdentity).toBe(other.identity);
    expect(spec().leaseTransitions).toBe(1);
  });

  it('a released lease is taken at once by the other', async () => {
    const a = elector('a', { leaseDurationSeconds: 30, renewDeadlineMs: 20_000 });
    a.start();
    await until(() => a.isLeader, 'a to lead');
    const b = elector('b', { leaseDurationSeconds: 30, renewDeadlineMs: 20_000 });
    b.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(b.isLeader).toBe(false);
    await a.stop(true);
    await until(() => b.isLeader, 'b to lead after the release', 10_000);
  });

  it('a write with a stale resourceVersion gets 409 and does not lead', async () => {
    const a = elector('a');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    // b read the lease, then a renewed (a new resourceVersion): b's write must conflict.
    const stale = server.getObject('Lease', LEASE, NS, 'coordination.k8s.io')!;
    expect(await a.tryAcquireOrRenew()).toBe(true);
    const racing = { ...client, get: () => Promise.resolve(structuredClone(stale) as never) };
    const b = elector('b', { client: racing, leaseDurationSeconds: 1 });
    // b has never seen the record change; make it look expired to b by a clock far ahead.
    let clock = 0;
    const late = elector('b', { client: racing, now: () => clock });
    expect(await b.tryAcquireOrRenew()).toBe(false);
    expect(await late.tryAcquireOrRenew()).toBe(false);
    clock = 5_000;
    await expect(late.tryAcquireOrRenew()).rejects.toMatchObject({ status: 409 });
    expect(spec().holderIdentity).toBe('a');
  });
});
