// Property-based tests of request path normalisation (meshConfig.pathNormalization): for every
// mode it never throws, is idempotent, leaves no `.`/`..` segment (except NONE), and for paths
// that `new URL()` accepts, BASE agrees with WHATWG URL path resolution once both are written
// with canonical escapes (URL keeps %61 and %7e as sent; BASE decodes unreserved characters).
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import {
  normalizePath,
  normalizeRequestTarget,
  PATH_NORMALIZATIONS,
  type PathNormalization,
} from './path-normalize.js';

const fragment = fc.constantFrom(
  '/',
  '/',
  '/',
  '//',
  '.',
  '..',
  '...',
  '%2e',
  '%2E',
  '%2e%2e',
  '.%2e',
  '%2e.',
  '%61',
  '%7e',
  '%7E',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  'a',
  'b',
  'admin',
  '%',
  '%zz',
  '%0',
  '%00',
  '%1f',
  '%25',
  '%41',
  '%c3%a9',
  'é',
  '😀',
  ' ',
  '"',
  '<',
  '>',
  '`',
  '{',
  '}',
  '^',
  '|',
  '[',
  ']',
  '@',
  ':',
  ';',
  '=',
  '&',
  '+',
  ',',
  '!',
  '$',
  "'",
  '(',
  ')',
  '*',
  '~',
  '-',
  '_',
  '?',
  '#',
  '\t',
  '\u0000',
);
const pathLike = fc.oneof(
  { weight: 4, arbitrary: fc.array(fragment, { maxLength: 16 }).map((parts) => `/${parts.join('')}`) },
  { weight: 1, arbitrary: fc.array(fragment, { maxLength: 16 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => `/${s}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) },
);
const mode = fc.constantFrom<PathNormalization>(...PATH_NORMALIZATIONS);

const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** Percent-escapes canonical: unreserved characters decoded, the rest with upper-case hex. */
function canonicalEscapes(path: string): string {
  return path.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

function whatwgPath(path: string): string | undefined {
  try {
    return new URL(`http://h${path}`).pathname;
  } catch {
    return undefined;
  }
}

describe('path normalisation (fuzz)', () => {
  it.prop([pathLike, mode], fuzzParams({ quick: 400 }))(
    'never throws and is idempotent',
    (path, m) => {
      const once = normalizePath(path, m);
      if (once === undefined) return;
      expect(normalizePath(once, m)).toBe(once);
    },
    fuzzTimeout(),
  );

  it.prop(
    [pathLike, fc.constantFrom<PathNormalization>('BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES')],
    fuzzParams({ quick: 400 }),
  )(
    'never yields a . or .. segment, and always starts with /',
    (path, m) => {
      const out = normalizePath(path, m);
      if (out === undefined) return;
      expect(out.startsWith('/')).toBe(true);
      expect(out.split('/').some((s) => s === '.' || s === '..')).toBe(false);
      if (m !== 'BASE') expect(out.includes('//')).toBe(false);
    },
    fuzzTimeout(),
  );

  it.prop([pathLike], fuzzParams({ quick: 400 }))(
    'BASE agrees with new URL() path resolution',
    (path) => {
      const ours = normalizePath(path, 'BASE');
      // Query and fragment delimiters end a URL's path; a path handed to us has neither.
      // URL parsing also strips leading and trailing spaces of the whole input: not a path rule.
      if (ours === undefined || /[?#]/.test(path) || path.charCodeAt(path.length - 1) <= 0x20) return;
      const theirs = whatwgPath(path);
      if (theirs === undefined) return;
      expect(ours).toBe(canonicalEscapes(theirs));
    },
    fuzzTimeout(),
  );

  it.prop([pathLike, mode], fuzzParams({ quick: 400 }))(
    'a normalised path (except NONE) is a fixed point of new URL()',
    (path, m) => {
      const out = normalizePath(path, m);
      if (out === undefined || m === 'NONE') return;
      expect(whatwgPath(out)).toBe(out);
    },
    fuzzTimeout(),
  );

  it.prop(
    [
      fc.oneof(
        pathLike,
        pathLike.map((p) => `http://host:80${p}`),
        fc.tuple(pathLike, fc.string()).map(([p, q]) => `${p}?${q}`),
      ),
      mode,
    ],
    fuzzParams({ quick: 400 }),
  )(
    'normalizeRequestTarget never throws; its path is normalised and its url is path?query',
    (target, m) => {
      const r = normalizeRequestTarget(target, m);
      if (!r) return;
      expect(normalizePath(r.path, m)).toBe(r.path);
      expect(r.url).toBe(r.query === '' && !target.includes('?') ? r.path : `${r.path}?${r.query}`);
    },
    fuzzTimeout(),
  );
});
