import { describe, expect, it } from 'vitest';
import type { ClusterEndpoint } from '../../core/model/l7.js';
import { localityCandidates, localityPriority, pickByPolicy, type EndpointRuntime } from './balancer.js';
import { newOutlierState } from './outlier.js';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ep(address: string, locality?: ClusterEndpoint['locality'], active = 0): EndpointRuntime {
  return {
    endpoint: { address, port: 80, labels: {}, ...(locality ? { locality } : {}) },
    key: `${address}:80`,
    active,
    outlier: newOutlierState(),
  };
}

describe('load balancer', () => {
  it('LEAST_REQUEST (two random choices) rarely picks the busy endpoint; RANDOM does a third of the time', () => {
    const eps = [ep('a', undefined, 5), ep('b'), ep('c')];
    const count = (simple: 'LEAST_REQUEST' | 'RANDOM') => {
      const random = seeded(1);
      let busy = 0;
      for (let i = 0; i < 900; i++) if (pickByPolicy(eps, { simple }, { random }, { next: 0 })!.key === 'a:80') busy++;
      return busy;
    };
    expect(count('LEAST_REQUEST')).toBeLessThan(150);
    expect(count('RANDOM')).toBeGreaterThan(240);
  });

  it('consistent hash maps a key to one endpoint and only moves the keys of a removed endpoint', () => {
    const all = [ep('a'), ep('b'), ep('c')];
    const pick = (eps: EndpointRuntime[], key: string) =>
      pickByPolicy(
        eps,
        { consistentHash: { httpHeaderName: 'x' } },
        { hashKey: key, random: Math.random },
        { next: 0 },
      )!.key;
    const before = new Map(Array.from({ length: 50 }, (_, i) => [`k${i}`, pick(all, `k${i}`)]));
    expect(new Set(before.values()).size).toBe(3);
    for (const [key, owner] of before) {
      expect(pick(all, key)).toBe(owner);
      if (owner !== 'c:80') expect(pick(all.slice(0, 2), key)).toBe(owner);
    }
  });

  it('ranks localities: same zone, same region, failover target, elsewhere', () => {
    const self = { region: 'r1', zone: 'z1' };
    expect(localityPriority(self, { region: 'r1', zone: 'z1' })).toBe(0);
    expect(localityPriority(self, { region: 'r1', zone: 'z2' })).toBe(2);
    expect(localityPriority(self, { region: 'r3' }, [{ from: 'r1', to: 'r3' }])).toBe(3);
    expect(localityPriority(self, { region: 'r2' }, [{ from: 'r1', to: 'r3' }])).toBe(4);
    const eps = [ep('far', { region: 'r2' }), ep('near', { region: 'r1', zone: 'z2' })];
    expect(
      localityCandidates(eps, self, { localityLbSetting: { enabled: true } }, Math.random).map((e) => e.key),
    ).toEqual(['near:80']);
  });

  it('distribute sends the configured share to each locality', () => {
    const eps = [ep('a', { region: 'r1', zone: 'z1' }), ep('b', { region: 'r2', zone: 'z1' })];
    const random = seeded(3);
    let toB = 0;
    const lb = { localityLbSetting: { distribute: [{ from: 'r1/z1/*', to: { 'r1/z1/*': 25, 'r2/*': 75 } }] } };
    for (let i = 0; i < 400; i++)
      if (localityCandidates(eps, { region: 'r1', zone: 'z1' }, lb, random)[0]!.key === 'b:80') toB++;
    expect(toB).toBeGreaterThan(260);
    expect(toB).toBeLessThan(340);
  });
});
