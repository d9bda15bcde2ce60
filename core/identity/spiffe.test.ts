import { describe, expect, it } from 'vitest';
import { formatSpiffeId, isSpiffeId, parseSpiffeId, spiffeIdFor } from './spiffe.js';

describe('SPIFFE ids', () => {
  it('parses and formats the Kubernetes form', () => {
    const id = parseSpiffeId('spiffe://cluster.local/ns/default/sa/sleep');
    expect(id).toEqual({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
    expect(formatSpiffeId(id)).toBe('spiffe://cluster.local/ns/default/sa/sleep');
    expect(spiffeIdFor('example.org', 'prod-1', 'svc.account_x')).toBe(
      'spiffe://example.org/ns/prod-1/sa/svc.account_x',
    );
  });

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['http://cluster.local/ns/a/sa/b', /scheme must be spiffe/],
    ['spiffe://Cluster.local/ns/a/sa/b', /trust domain "Cluster.local"/],
    ['spiffe://cluster.local:8443/ns/a/sa/b', /port or user info/],
    ['spiffe://user@cluster.local/ns/a/sa/b', /port or user info/],
    ['spiffe:///ns/a/sa/b', /trust domain is empty/],
    ['spiffe://cluster.local', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://cluster.local/ns/a/sa/b/extra', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://cluster.local/ns/a/serviceaccount/b', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://cluster.local/ns//sa/b', /namespace is empty/],
    ['spiffe://cluster.local/ns/a/sa/', /service account is empty/],
    ['spiffe://cluster.local/ns/../sa/b', /relative path segment/],
    ['spiffe://cluster.local/ns/a b/sa/b', /namespace "a b".*characters/],
    ['spiffe://cluster.local/ns/a/sa/b%2F', /service account "b%2F"/],
    ['spiffe://cluster.local/ns/a/sa/b?x=1', /query or fragment/],
    [`spiffe://cluster.local/ns/${'n'.repeat(64)}/sa/b`, /longer than 63/],
  ];
  it.each(bad)('refuses %j', (uri, message) => {
    let error: unknown;
    try {
      parseSpiffeId(uri);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'AMBIT_E_SPIFFE_ID' });
    expect((error as Error).message).toMatch(message);
    expect((error as { hint?: string }).hint).toBeTruthy();
    expect(isSpiffeId(uri)).toBe(false);
  });

  it('validates when formatting', () => {
    expect(() => spiffeIdFor('cluster.local', 'a/b', 'c')).toThrow(/namespace "a\/b"/);
    expect(() => spiffeIdFor('cluster_local!', 'a', 'c')).toThrow(/trust domain/);
  });
});
