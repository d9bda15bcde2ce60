// Endpoint choice for one cluster: load balancer (LEAST_REQUEST — Istio's default —,
// ROUND_ROBIN, RANDOM, consistent hash) over the healthy endpoints of the best locality.
import { createHash } from 'node:crypto';
import type { ClusterEndpoint, LoadBalancerSettings } from '../../core/model/l7.js';
import type { Locality } from '../../core/model/types.js';
import type { OutlierState } from './outlier.js';

export interface EndpointRuntime {
  /** Replaced on config updates (labels and identity may change while the address stays). */
  endpoint: ClusterEndpoint;
  readonly key: string;
  active: number;
  readonly outlier: OutlierState;
}

export interface PickInput {
  /** Value to hash for consistentHash (header, cookie, source IP, query param). */
  readonly hashKey?: string;
  readonly random: () => number;
}

function hashScore(key: string, endpointKey: string): bigint {
  // Rendezvous hashing: stable per (key, endpoint), and only the keys of a removed endpoint move.
  return createHash('sha1').update(key).update('\0').update(endpointKey).digest().readBigUInt64BE(0);
}

export function pickByPolicy(
  candidates: readonly EndpointRuntime[],
  lb: LoadBalancerSettings | undefined,
  input: PickInput,
  rr: { next: number },
): EndpointRuntime | undefined {
  if (candidates.length === 0) return undefined;
  if (candidates.length === 1) return candidates[0];
  if (lb?.consistentHash && input.hashKey !== undefined) {
    let best = candidates[0]!;
    let bestScore = -1n;
    for (const c of candidates) {
      const score = hashScore(input.hashKey, c.key);
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    return best;
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      return candidates[rr.next++ % candidates.length];
    case 'RANDOM':
      return candidates[Math.floor(input.random() * candidates.length)];
    default: {
      // LEAST_REQUEST (and LEAST_CONN, UNSPECIFIED): power of two random choices.
      const a = candidates[Math.floor(input.random() * candidates.length)]!;
      const b = candidates[Math.floor(input.random() * candidates.length)]!;
      return b.active < a.active ? b : a;
    }
  }
}

function localityString(l: Locality | undefined): string {
  return [l?.region ?? '', l?.zone ?? '', l?.subzone ?? ''].join('/');
}

function matchesLocalityPattern(pattern: string, locality: Locality | undefined): boolean {
  const want = pattern.split('/');
  const have = localityString(locality).split('/');
  return want.every((w, i) => w === '*' || w === '' || w === have[i]);
}

/**
 * Locality priority as Istio computes it: 0 same region/zone/subzone, 1 same region/zone,
 * 2 same region, 3 elsewhere. A `failover` rule from our region to another ranks that
 * region just after our own.
 */
export function localityPriority(
  self: Locality | undefined,
  ep: Locality | undefined,
  failover: readonly { from: string; to: string }[] = [],
): number {
  if (!self?.region) return 0;
  if (ep?.region === self.region) {
    if (ep.zone === self.zone) return ep.subzone === self.subzone ? 0 : 1;
    return 2;
  }
  for (const f of failover) if (f.from === self.region && ep?.region === f.to) return 3;
  return 4;
}

/** Healthy endpoints of the best-ranked locality that has any; distribute weights applied. */
export function localityCandidates(
  healthy: readonly EndpointRuntime[],
  self: Locality | undefined,
  lb: LoadBalancerSettings | undefined,
  random: () => number,
): readonly EndpointRuntime[] {
  const setting = lb?.localityLbSetting;
  if (!setting || setting.enabled === false || !self?.region) return healthy;
  const rule = setting.distribute?.find((d) => matchesLocalityPattern(d.from, self));
  if (rule) {
    const entries = Object.entries(rule.to);
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let point = random() * total;
    for (const [pattern, weight] of entries) {
      point -= weight;
      if (point < 0) {
        const inTarget = healthy.filter((e) => matchesLocalityPattern(pattern, e.endpoint.locality));
        if (inTarget.length > 0) return inTarget;
        break;
      }
    }
    return healthy;
  }
  let best = Number.POSITIVE_INFINITY;
  for (const e of healthy) best = Math.min(best, localityPriority(self, e.endpoint.locality, setting.failover));
  return healthy.filter((e) => localityPriority(self, e.endpoint.locality, setting.failover) === best);
}
