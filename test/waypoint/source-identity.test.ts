// The caller's address and namespace at the waypoint: namespace from the SPIFFE id only; a
// `forwarded` address only when it belongs to a workload with the peer's identity.
import { describe, expect, it } from 'vitest';
import type { Workload } from '../../core/model/types.js';
import { tunnelSource, verifiedWorkload } from '../../waypoint/source-identity.js';
import { clientWorkload } from '../support/waypoint-harness.js';

const WEB = 'spiffe://cluster.local/ns/coffee-shop/sa/web-frontend';
const payments: Workload = {
  ...clientWorkload('payments', '10.244.5.5', 'pay'),
  namespace: 'payments',
  identity: 'spiffe://cluster.local/ns/payments/sa/pay',
};
const byIp = new Map<string, Workload>([
  ['10.244.0.9', clientWorkload('web', '10.244.0.9')],
  ['10.244.5.5', payments],
]);
const base = { peerIdentity: WEB, remoteAddress: '10.0.0.1', remotePort: 50000, workloadsByIp: byIp };

describe('tunnelSource', () => {
  it("believes forwarded for the peer's own workload", () => {
    expect(tunnelSource({ ...base, forwarded: 'for="10.244.0.9:40000"' })).toEqual({
      ip: '10.244.0.9',
      port: 40000,
      namespace: 'coffee-shop',
    });
  });

  it("ignores forwarded naming another identity's workload, an unknown address, or garbage, and says why", () => {
    expect(tunnelSource({ ...base, forwarded: 'for="10.244.5.5:1"' })).toEqual({
      ip: '10.0.0.1',
      port: 50000,
      namespace: 'coffee-shop',
      forwardedRejected: 'identity_mismatch',
    });
    expect(tunnelSource({ ...base, forwarded: 'for=10.9.9.9' })).toMatchObject({
      ip: '10.0.0.1',
      forwardedRejected: 'unknown_address',
    });
    expect(tunnelSource({ ...base, forwarded: 'by=x' })).toMatchObject({
      ip: '10.0.0.1',
      forwardedRejected: 'malformed',
    });
  });

  it('takes the namespace from the certificate, never from an address', () => {
    expect(tunnelSource({ ...base, remoteAddress: '10.244.5.5', forwarded: undefined }).namespace).toBe('coffee-shop');
    expect(verifiedWorkload(byIp, '10.244.5.5', WEB)).toBeUndefined();
    expect(verifiedWorkload(byIp, '10.244.0.9', WEB)?.name).toBe('web');
    expect(verifiedWorkload(byIp, '10.244.0.9', 'cluster.local/ns/coffee-shop/sa/web-frontend')?.name).toBe('web');
  });
});
