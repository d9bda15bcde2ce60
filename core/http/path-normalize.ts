// HTTP request path normalisation with the meanings of Istio's meshConfig.pathNormalization:
//   NONE                      the path as received (still checked to be a valid origin-form path)
//   BASE (default)            RFC 3986 normalisation as Envoy's normalize_path does it:
//                             backslashes become slashes, percent-encoded unreserved characters
//                             are decoded (%61 → a, %2e → .), remaining escapes get upper-case
//                             hex, dot segments are removed (RFC 3986 §5.2.4)
//   MERGE_SLASHES             BASE, then runs of slashes become one
//   DECODE_AND_MERGE_SLASHES  %2F %2f %5C %5c are decoded to slashes first, then MERGE_SLASHES
// Pure and total: never throws; an invalid path yields undefined (the waypoint answers 400).
// Characters WHATWG URL parsing percent-encodes in a path (space, ", <, >, `, {, }, non-ASCII
// as UTF-8) are encoded the same way, so a normalised path is a fixed point of `new URL()`.

export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export const DEFAULT_PATH_NORMALIZATION: PathNormalization = 'BASE';

export const PATH_NORMALIZATIONS: readonly PathNormalization[] = [
  'NONE',
  'BASE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
];

const HEX = '0123456789ABCDEF';

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

/** Characters WHATWG's path percent-encode set encodes that may appear in a path given to us. */
function needsEncoding(c: number): boolean {
  return c === 32 || c === 34 || c === 60 || c === 62 || c === 96 || c === 123 || c === 125 || c === 63;
}

function encodeByte(b: number): string {
  return `%${HEX[b >> 4]!}${HEX[b & 15]!}`;
}

/**
 * Checks the raw path and rewrites it into canonical escapes: decoded unreserved characters,
 * upper-case hex elsewhere, backslash → slash (except NONE), WHATWG encodings for the rest.
 * `decodeSlashes` also turns %2F and %5C into slashes. undefined when the path is invalid.
 */
function canonicalEscapes(path: string, decodeSlashes: boolean): string | undefined {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 37) {
      // %
      const h = path.charCodeAt(i + 1);
      const l = path.charCodeAt(i + 2);
      if (!isHex(h) || !isHex(l)) return undefined;
      const byte = hexValue(h) * 16 + hexValue(l);
      // An encoded NUL or control character is never a legitimate path (Envoy rejects %00).
      if (byte < 0x20 || byte === 0x7f) return undefined;
      i += 2;
      if (isUnreserved(byte)) out += String.fromCharCode(byte);
      else if (decodeSlashes && (byte === 0x2f || byte === 0x5c)) out += '/';
      else out += encodeByte(byte);
    } else if (c < 0x20 || c === 0x7f || c === 35) {
      // controls and '#': not in a request target
      return undefined;
    } else if (c === 92) {
      // backslash, as browsers and Envoy's normaliser treat it
      out += '/';
    } else if (c < 0x80) {
      out += needsEncoding(c) ? encodeByte(c) : path[i];
    } else {
      const cp = path.codePointAt(i)!;
      if (cp >= 0xd800 && cp <= 0xdfff) return undefined; // lone surrogate: no UTF-8 form
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += encodeByte(b);
    }
  }
  return out;
}

/** RFC 3986 §5.2.4 on an absolute path: `.` segments go, `..` removes the segment before it. */
function removeDotSegments(path: string): string {
  const segments = path.split('/'); // path starts with '/': segments[0] === ''
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 0) out.pop();
      // A trailing dot segment leaves a directory path: "/a/b/.." → "/a/".
      if (i === last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

function mergeSlashes(path: string): string {
  return path.replace(/\/{2,}/g, '/');
}

/**
 * Normalises the path component of a request target (no query string: split it off first).
 * Returns the normalised path, or undefined when the path is not valid (the caller answers
 * 400): not starting with `/`, a bad or encoded-control percent escape, a control character,
 * `#`, or a lone surrogate. Idempotent for every mode; for all modes except NONE the result
 * has no `.` or `..` segment.
 */
export function normalizePath(path: string, mode: PathNormalization = DEFAULT_PATH_NORMALIZATION): string | undefined {
  if (path.length === 0 || (path.charCodeAt(0) !== 47 && !(mode !== 'NONE' && path.charCodeAt(0) === 92)))
    return undefined;
  if (mode === 'NONE') {
    for (let i = 0; i < path.length; i++) {
      const c = path.charCodeAt(i);
      if (c < 0x20 || c === 0x7f || c === 35) return undefined;
    }
    return path;
  }
  const escaped = canonicalEscapes(path, mode === 'DECODE_AND_MERGE_SLASHES');
  if (escaped === undefined) return undefined;
  const normal = removeDotSegments(escaped);
  return mode === 'BASE' ? normal : mergeSlashes(normal);
}

/**
 * A request target (`/path?query`, or absolute-form `http://host/path?query`) split and
 * normalised: `url` is the normalised path with the query as received. Node hands HTTP/1 and
 * HTTP/2 targets over as latin1 strings, so bytes 0x80–0xFF are percent-encoded as bytes here
 * (never re-encoded as UTF-8 characters). undefined when the target is invalid.
 */
export function normalizeRequestTarget(
  target: string,
  mode: PathNormalization = DEFAULT_PATH_NORMALIZATION,
): { path: string; query: string; url: string } | undefined {
  let t = target;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(t);
  if (scheme) t = t.slice(scheme[0].length) || '/';
  const q = t.indexOf('?');
  const rawPath = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? '' : t.slice(q + 1);
  let bytesPath = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c > 0xff) return undefined; // not a latin1 byte string: not from the wire
    bytesPath += c >= 0x80 ? encodeByte(c) : rawPath[i];
  }
  const path = normalizePath(bytesPath, mode);
  if (path === undefined) return undefined;
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 35) return undefined;
  }
  return { path, query, url: q < 0 ? path : `${path}?${query}` };
}

export function isPathNormalization(value: unknown): value is PathNormalization {
  return typeof value === 'string' && (PATH_NORMALIZATIONS as readonly string[]).includes(value);
}
