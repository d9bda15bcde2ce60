import { describe, expect, it } from 'vitest';
import { cidrContains, parseCidr, parseIp } from './ip-match.js';
import { normalizePath } from '../http/path-normalize.js';
import { compileHostList, compilePathList, compileStringList } from './string-match.js';

describe('ip matching', () => {
  const table: Array<[string, string, boolean]> = [
    ['10.0.0.0/8', '10.255.1.2', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.1.2.3', '10.1.2.3', true],
    ['10.1.2.3', '10.1.2.4', false],
    ['10.1.2.128/25', '10.1.2.200', true],
    ['10.1.2.128/25', '10.1.2.100', false],
    ['0.0.0.0/0', '1.2.3.4', true],
    ['0.0.0.0/0', '::1', false],
    ['::/0', '2001:db8::1', true],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['fe80::1', 'fe80::1%eth0', true],
    ['10.0.0.0/8', '::ffff:10.1.1.1', true],
    ['::ffff:10.0.0.0/104', '10.9.9.9', true],
    ['2001:db8::1:0:0:1/128', '2001:db8:0:0:1::1', true],
  ];
  for (const [block, ip, want] of table) {
    it(`${block} ∋ ${ip} = ${want}`, () => expect(cidrContains(parseCidr(block), parseIp(ip)!)).toBe(want));
  }
  it('rejects malformed blocks with a message naming the value', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'abc', '::/129', '10.0.0.0/x']) {
      expect(() => parseCidr(bad)).toThrow(bad);
    }
  });
  it('parses addresses', () => {
    expect(parseIp('nope')).toBeUndefined();
    expect([...parseIp('::ffff:1.2.3.4')!]).toEqual([1, 2, 3, 4]);
    expect(parseIp('::')!.length).toBe(16);
  });
});

describe('string matching', () => {
  it('exact, prefix, suffix, presence', () => {
    const m = compileStringList(['a', 'pre*', '*suf', 'x']);
    expect([m('a'), m('prefix'), m('endsuf'), m('x'), m('b'), m(undefined)]).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
    const any = compileStringList(['*']);
    expect([any('z'), any(''), any(undefined)]).toEqual([true, false, false]);
  });
  it('hosts ignore case; an exact host does not match host:port (write host:* as in Istio)', () => {
    const m = compileHostList(['*.Example.com', 'api.local']);
    expect([m('WWW.example.COM'), m('API.local'), m('api.local:8080'), m('other')]).toEqual([true, true, false, false]);
    expect(compileHostList(['api.local:*'])('api.local:8080')).toBe(true);
  });
  it('paths drop query and fragment', () => {
    const m = compilePathList(['/a', '/b/*', '/t/{*}/x', '/f/{**}']);
    expect([m('/a?q=1'), m('/a#f'), m('/b/c'), m('/t/1/x'), m('/t//x'), m('/f/'), m('/c')]).toEqual([
      true,
      true,
      true,
      true,
      false,
      true,
      false,
    ]);
  });
});

describe('path normalisation (RFC 3986, Istio BASE)', () => {
  const table: Array<[string, string]> = [
    ['/a/b', '/a/b'],
    ['/public/../admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/../x', '/x'],
    ['/%61dmin', '/admin'],
    ['/%2e%2e/admin', '/admin'],
    ['/a%2fb', '/a%2Fb'],
    ['/a/.hidden', '/a/.hidden'],
  ];
  for (const [raw, want] of table) it(`${raw} → ${want}`, () => expect(normalizePath(raw)).toBe(want));
  it('a DENY on /admin* catches encoded and dotted forms once the path is normalised', () => {
    const m = compilePathList(['/admin*']);
    const normal = (p: string) => m(normalizePath(p));
    expect([normal('/public/../admin/users'), normal('/%61dmin'), normal('/public')]).toEqual([true, true, false]);
  });

  it("matches the path it is given: normalising is the caller's one step, not a second one here", () => {
    // With pathNormalization NONE the app gets the raw path; authorization must judge that same path.
    const m = compilePathList(['/admin*']);
    expect(m('/public/../admin/users')).toBe(false);
    expect(m('/admin/users')).toBe(true);
  });
});
