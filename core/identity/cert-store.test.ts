import { afterEach, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { backoffDelay, CertificateStore } from './cert-store.js';
import type { CaClient, Credentials } from './types.js';
import { testCa } from '../../test/support/pki.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const stores: CertificateStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function store(ca: CaClient, ttlSeconds?: number, backoff?: { initialMs: number; maxMs: number }): CertificateStore {
  const s = new CertificateStore({ ca, ...(ttlSeconds ? { ttlSeconds } : {}), ...(backoff ? { backoff } : {}) });
  stores.push(s);
  return s;
}

/** A CaClient that counts calls and can be made to fail. */
function countingClient(inner: CaClient): CaClient & { calls: number; failNext: number } {
  const client = {
    calls: 0,
    failNext: 0,
    async sign(req: { csrPem: string; identity: string; ttlSeconds: number }) {
      client.calls += 1;
      if (client.failNext > 0) {
        client.failNext -= 1;
        throw new Error('CA unavailable');
      }
      return inner.sign(req);
    },
  };
  return client;
}

const serial = (c: Credentials): string => new X509Certificate(c.certChainPem).serialNumber;
const nextRotation = (s: CertificateStore): Promise<Credentials> =>
  new Promise((resolve) => {
    const off = s.onRotate((c) => {
      off();
      resolve(c);
    });
  });

describe('CertificateStore', () => {
  it('obtains credentials once for concurrent callers and serves them from memory', async () => {
    const ca = await testCa();
    const client = countingClient(ca.asClient());
    const s = store(client);
    const [a, b] = await Promise.all([s.get(SLEEP), s.get(SLEEP)]);
    expect(a).toBe(b);
    expect(await s.get(SLEEP)).toBe(a);
    expect(client.calls).toBe(1);
    expect(s.current(SLEEP)).toBe(a);
    expect(
      new X509Certificate(a.certChainPem).checkPrivateKey(
        await import('node:crypto').then((c) => c.createPrivateKey(a.keyPem)),
      ),
    ).toBe(true);
    expect(s.expiries()).toEqual([{ identity: SLEEP, notAfter: a.notAfter }]);
    const hours = (a.notAfter.getTime() - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9); // default TTL 24 h
  });

  it('rejects a malformed identity without calling the CA', async () => {
    const ca = await testCa();
    const client = countingClient(ca.asClient());
    await expect(store(client).get('spiffe://cluster.local/default/sleep')).rejects.toMatchObject({
      code: 'AMBIT_E_SPIFFE_ID',
    });
    expect(client.calls).toBe(0);
  });

  it('rotates a 2 s certificate at half-life and keeps the old one while valid', async () => {
    const ca = await testCa();
    const s = store(ca.asClient(), 2);
    const first = await s.get(SLEEP);
    const rotated = await nextRotation(s);
    expect(serial(rotated)).not.toBe(serial(first));
    expect(rotated.keyPem).not.toBe(first.keyPem);
    expect(s.current(SLEEP)).toBe(rotated);
    // rotation happened before the first one expired: both are held
    if (first.notAfter.getTime() > Date.now()) expect(s.valid(SLEEP).map(serial)).toContain(serial(first));
    const third = await nextRotation(s);
    expect(serial(third)).not.toBe(serial(rotated));
    expect(s.current(SLEEP)).toBe(third);
    expect(s.valid(SLEEP).every((c) => c.notAfter.getTime() > Date.now())).toBe(true);
    await new Promise((r) => setTimeout(r, Math.max(0, first.notAfter.getTime() - Date.now() + 20)));
    expect(s.valid(SLEEP).map(serial)).not.toContain(serial(first)); // expired ones are dropped
  });

  it('backs off and recovers when the CA fails', async () => {
    const ca = await testCa();
    const client = countingClient(ca.asClient());
    client.failNext = 3;
    const s = store(client, undefined, { initialMs: 20, maxMs: 100 });
    const recovered = nextRotation(s);
    await expect(s.get(SLEEP)).rejects.toThrow('CA unavailable');
    expect(s.failures(SLEEP)).toMatchObject({ count: 1, lastError: 'CA unavailable' });
    const creds = await recovered;
    expect(client.calls).toBe(4);
    expect(s.current(SLEEP)).toBe(creds);
    expect(s.failures(SLEEP).count).toBe(0);
  });

  it('computes exponential, capped backoff delays', () => {
    const mid = (): number => 0.5;
    const opts = { initialMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, opts, mid))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(1, opts, () => 0)).toBe(90);
    expect(backoffDelay(1, opts, () => 1)).toBe(110);
  });

  it('forget() drops the identity and close() stops everything', async () => {
    const ca = await testCa();
    const s = store(ca.asClient());
    await s.get(SLEEP);
    s.forget(SLEEP);
    expect(s.current(SLEEP)).toBeUndefined();
    expect(s.expiries()).toEqual([]);
    s.close();
    await expect(s.get(SLEEP)).rejects.toMatchObject({ code: 'AMBIT_E_CA' });
  });
});
