import { describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import { connectHeaders, forwardedFor, isTraceparent, joinHostPort, newTraceparent, splitHostPort } from './headers.js';

describe('hbone headers', () => {
  it('splits and joins ip:port for IPv4 and IPv6, refusing names and bad ports', () => {
    expect(splitHostPort('10.0.0.7:8080')).toEqual({ host: '10.0.0.7', port: 8080 });
    expect(splitHostPort('[fd00::7]:443')).toEqual({ host: 'fd00::7', port: 443 });
    expect(splitHostPort('example.com:80')).toBeUndefined();
    expect(splitHostPort('10.0.0.7:0')).toBeUndefined();
    expect(splitHostPort('10.0.0.7:70000')).toBeUndefined();
    expect(splitHostPort('fd00::7:443')).toBeUndefined();
    expect(joinHostPort('fd00::7', 443)).toBe('[fd00::7]:443');
    expect(joinHostPort('10.0.0.7', 80)).toBe('10.0.0.7:80');
  });

  it('builds CONNECT headers with forwarded and a generated or given traceparent', () => {
    const h = connectHeaders({
      authority: '10.0.0.7:8080',
      forwardedFor: '[fd00::1]:5555',
      extraHeaders: { 'x-a': 'b' },
    });
    expect(h).toMatchObject({
      ':method': 'CONNECT',
      ':authority': '10.0.0.7:8080',
      forwarded: 'for="[fd00::1]:5555"',
      'x-a': 'b',
    });
    expect(isTraceparent(String(h['traceparent']))).toBe(true);
    const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(connectHeaders({ authority: '10.0.0.7:1', traceparent: given })['traceparent']).toBe(given);
    // an invalid one is replaced rather than forwarded
    expect(connectHeaders({ authority: '10.0.0.7:1', traceparent: 'junk' })['traceparent']).not.toBe('junk');
    expect(newTraceparent()).not.toBe(newTraceparent());
  });

  it('makes valid, distinct traceparents across refills of its random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = newTraceparent();
      expect(isTraceparent(t)).toBe(true);
      seen.add(t.slice(3, 35));
    }
    expect(seen.size).toBe(1000);
  });

  it('refuses a malformed authority or forwardedFor with AMBIT_E_HBONE_CONNECT', () => {
    expect(() => connectHeaders({ authority: 'svc.ns:80' })).toThrow(/not ip:port/);
    const err = ((): unknown => {
      try {
        connectHeaders({ authority: '10.0.0.1:80', forwardedFor: 'client' });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(isAmbitError(err, 'AMBIT_E_HBONE_CONNECT')).toBe(true);
  });

  it('reads the client address of a forwarded header', () => {
    expect(forwardedFor({ forwarded: 'for="10.1.2.3:4567"' })).toEqual({ host: '10.1.2.3', port: 4567 });
    expect(forwardedFor({ forwarded: 'proto=https;for="[fd00::2]:80", for=1.1.1.1:1' })).toEqual({
      host: 'fd00::2',
      port: 80,
    });
    expect(forwardedFor({ forwarded: 'for=unknown' })).toBeUndefined();
    expect(forwardedFor({})).toBeUndefined();
  });
});
