// Shared pieces of the HTTP/1 parser properties (waypoint/http1/*.fuzz.test.ts): byte splits
// and the field names and values a well-formed message is built from.
import { fc, it } from '@fast-check/vitest';
import { arbitraryBytes, fuzzParams, fuzzTimeout } from '../support/fuzz.js';

/** `bytes` cut at the given points (taken modulo its length), empty pieces left out. */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const at of points) {
    out.push(bytes.subarray(from, at));
    from = at;
  }
  out.push(bytes.subarray(from));
  return out.filter((b) => b.length > 0);
}

/** Field names, including ones that are also Object.prototype's. */
export const fieldName = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  fc.constantFrom('constructor', 'tostring', '__proto__'),
);

/** Field values without leading or trailing whitespace. */
export const fieldValue = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);

/** `body` as chunks of the given sizes (cycled, with an extension), the last chunk and `trailers` (field lines). */
export function chunked(body: Buffer, sizes: number[], trailers: string): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, body.length - at);
    parts.push(Buffer.from(`${n.toString(16)};x=1\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  parts.push(Buffer.from(`0\r\n${trailers}\r\n`));
  return Buffer.concat(parts);
}

/**
 * The two garbage properties of a parser: arbitrary bytes, and arbitrary bytes after each of
 * `heads` (valid heads), split anywhere; `feed` fails the property on anything but a parse error.
 */
export function garbageProperties(feed: (pieces: Buffer[]) => void, heads: string[]): void {
  it.prop([arbitraryBytes(512), fc.array(fc.nat(), { maxLength: 6 })], fuzzParams())(
    'never throws anything but a parse error on arbitrary bytes',
    (bytes, cuts) => void feed(splitAt(Buffer.from(bytes), cuts)),
    fuzzTimeout(),
  );
  it.prop([arbitraryBytes(256), fc.array(fc.nat(), { maxLength: 4 })], fuzzParams())(
    'never throws anything but a parse error after a valid head',
    (tail, cuts) => {
      for (const head of heads) feed(splitAt(Buffer.concat([Buffer.from(head), Buffer.from(tail)]), cuts));
    },
    fuzzTimeout(),
  );
}
