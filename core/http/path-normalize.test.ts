import { describe, expect, it } from 'vitest';
import { normalizePath, normalizeRequestTarget, type PathNormalization } from './path-normalize.js';

const ALL: PathNormalization[] = ['BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

describe('normalizePath', () => {
  it.each([
    ['/a/../b', '/b', '/b', '/b'],
    ['/a/%2e%2e/admin', '/admin', '/admin', '/admin'],
    ['/a/.%2E/admin', '/admin', '/admin', '/admin'],
    ['/%61dmin', '/admin', '/admin', '/admin'],
    ['/a\\..\\admin', '/admin', '/admin', '/admin'],
    ['\\admin', '/admin', '/admin', '/admin'],
    ['/a//b', '/a//b', '/a/b', '/a/b'],
    ['/a/b/..', '/a/', '/a/', '/a/'],
    ['/a/b/.', '/a/b/', '/a/b/', '/a/b/'],
    ['/..', '/', '/', '/'],
    ['/../..//x', '//x', '/x', '/x'],
    ['/%2fadmin', '/%2Fadmin', '/%2Fadmin', '/admin'],
    ['/a%2F..%2Fadmin', '/a%2F..%2Fadmin', '/a%2F..%2Fadmin', '/admin'],
    ['/a%5c..%5cadmin', '/a%5C..%5Cadmin', '/a%5C..%5Cadmin', '/admin'],
    ['/%7e%41%252e', '/~A%252e', '/~A%252e', '/~A%252e'],
    ['/caf\u00e9 x', '/caf%C3%A9%20x', '/caf%C3%A9%20x', '/caf%C3%A9%20x'],
  ])('%s', (input, base, merge, decode) => {
    expect(normalizePath(input)).toBe(base);
    expect(normalizePath(input, 'BASE')).toBe(base);
    expect(normalizePath(input, 'MERGE_SLASHES')).toBe(merge);
    expect(normalizePath(input, 'DECODE_AND_MERGE_SLASHES')).toBe(decode);
  });

  it('rejects invalid paths in every mode', () => {
    for (const bad of ['', 'admin', '/x%zz', '/x%2', '/%00', '/a%0a', '/a\u0001', '/a#frag', '/\ud800']) {
      for (const m of ALL) expect(normalizePath(bad, m), `${JSON.stringify(bad)} ${m}`).toBeUndefined();
    }
    expect(normalizePath('/a#b', 'NONE')).toBeUndefined();
  });

  it('NONE keeps the path as received', () => {
    expect(normalizePath('/a/../%61//b', 'NONE')).toBe('/a/../%61//b');
  });

  it('is idempotent, leaves no dot segments and is a fixed point of new URL()', () => {
    const samples = [
      '/a/../b',
      '/%2e%2e/%2E./x',
      '/a//./b/',
      '/\\\\x',
      '/a%2f%2e%2e',
      '/{x}<y>`z"',
      '/%C3%A9/../\u00fc',
    ];
    for (const s of samples) {
      for (const m of ALL) {
        const once = normalizePath(s, m)!;
        expect(normalizePath(once, m)).toBe(once);
        expect(once.split('/').some((seg) => seg === '..' || seg === '.')).toBe(false);
        if (!once.startsWith('//')) expect(new URL(once, 'http://h').pathname).toBe(once);
      }
    }
  });
});

describe('normalizeRequestTarget', () => {
  it('splits the query, keeps it as received, and normalises the path', () => {
    expect(normalizeRequestTarget('/a/../b?x=/../y')).toEqual({ path: '/b', query: 'x=/../y', url: '/b?x=/../y' });
    expect(normalizeRequestTarget('http://host:80/a/./b')).toEqual({ path: '/a/b', query: '', url: '/a/b' });
    expect(normalizeRequestTarget('/x%zz?q')).toBeUndefined();
  });

  it('percent-encodes latin1 bytes as bytes (Node hands the wire target over as latin1)', () => {
    const wire = Buffer.from('/café', 'utf8').toString('latin1');
    expect(normalizeRequestTarget(wire)?.path).toBe('/caf%C3%A9');
  });
});
