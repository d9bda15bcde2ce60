import { describe, expect, it } from 'vitest';
import { fc } from '@fast-check/vitest';
import {
  allocateAutoVips,
  AUTO_ALLOCATE_LABEL,
  AutoVipAllocator,
  vipSlot,
  VipAllocator,
  wantsAutoVip,
  withAutoVips,
} from './vip-allocation.js';

const inRange = (ip: string): boolean => /^240\.240\.\d{1,3}\.\d{1,3}$/.test(ip);

describe('auto VIP allocation', () => {
  it('gives a host the same pair of addresses in any run and any input order', () => {
    const keys = ['shop/api.example.com', 'shop/db.internal', 'web/api.example.com'];
    const a = allocateAutoVips(keys);
    const b = allocateAutoVips([...keys].reverse());
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    for (const [v4, v6] of a.values()) {
      expect(inRange(v4)).toBe(true);
      expect(v6).toMatch(/^2001:2::[0-9a-f]{1,4}$/);
    }
    // The same key in another namespace is another service: another address.
    expect(a.get('shop/api.example.com')?.[0]).not.toBe(a.get('web/api.example.com')?.[0]);
  });

  it('moves a colliding key to the next free slot and never hands out a reserved address', () => {
    const taken = new AutoVipAllocator().allocate('shop/a.example.com')[0];
    const alloc = new AutoVipAllocator();
    alloc.reserve(taken);
    const [v4] = alloc.allocate('shop/a.example.com');
    expect(v4).not.toBe(taken);
    expect(inRange(v4)).toBe(true);
    // Two keys with one preferred slot: both get distinct addresses.
    const v = new VipAllocator([240, 240]);
    const first = v.allocate('k');
    const second = v.allocate('k');
    expect(second).not.toBe(first);
  });

  it('hands out distinct addresses for any set of hosts, never .255 or x.x.0.0', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 30 }), { maxLength: 200 }), (keys) => {
        const pairs = [...allocateAutoVips(keys).values()];
        const v4 = pairs.map((p) => p[0]);
        expect(new Set(v4).size).toBe(keys.length);
        expect(new Set(pairs.map((p) => p[1])).size).toBe(keys.length);
        for (const ip of v4) {
          expect(inRange(ip)).toBe(true);
          expect(ip.endsWith('.255')).toBe(false);
          expect(ip).not.toBe('240.240.0.0');
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps every address when a host is added that does not collide', () => {
    const before = allocateAutoVips(['a/x.com', 'a/y.com']);
    const after = allocateAutoVips(['a/x.com', 'a/y.com', 'b/z.com']);
    expect(after.get('a/x.com')).toEqual(before.get('a/x.com'));
    expect(after.get('a/y.com')).toEqual(before.get('a/y.com'));
  });

  it('hashes with FNV-1a (a stored format: changing it moves every address)', () => {
    expect(vipSlot('')).toBe(2166136261);
    expect(vipSlot('a')).toBe(0xe40c292c);
  });

  it('allocates only for non-wildcard hosts without addresses whose resolution is not NONE', () => {
    const base = { host: 'api.example.com', resolution: 'DNS', addresses: [] as string[] };
    expect(wantsAutoVip(base)).toBe(true);
    expect(wantsAutoVip({ ...base, resolution: 'STATIC' })).toBe(true);
    expect(wantsAutoVip({ ...base, resolution: 'NONE' })).toBe(false);
    expect(wantsAutoVip({ ...base, resolution: undefined })).toBe(false);
    expect(wantsAutoVip({ ...base, host: '*.example.com' })).toBe(false);
    expect(wantsAutoVip({ ...base, addresses: ['10.0.0.1'] })).toBe(false);
    expect(wantsAutoVip({ ...base, labels: { [AUTO_ALLOCATE_LABEL]: 'false' } })).toBe(false);
  });
});

describe('auto VIPs of a snapshot file', () => {
  it('fills in the same addresses the controller gives, only where none are written', () => {
    const services = [
      { namespace: 'shop', hostname: 'api.example.com', vips: [] as string[], resolution: 'DNS' as const },
      { namespace: 'shop', hostname: 'fixed.example.com', vips: ['240.240.0.9'], resolution: 'STATIC' as const },
      { namespace: 'shop', hostname: 'pass.example.com', vips: [] as string[], resolution: 'NONE' as const },
      { namespace: 'shop', hostname: 'payment.shop.svc.cluster.local', vips: ['10.96.0.1'] },
    ];
    const out = withAutoVips(services, {});
    const expected = allocateAutoVips(['shop/api.example.com'], ['240.240.0.9', '10.96.0.1']);
    expect(out[0]?.vips).toEqual([...expected.get('shop/api.example.com')!]);
    expect(out.slice(1)).toEqual(services.slice(1));
    expect(withAutoVips(services, { dnsAutoAllocate: false })[0]?.vips).toEqual([]);
  });
});
