// Property-based tests of the upstream HTTP/1 response parser (bytes from any server): it
// never throws anything but its own parse error, never holds more than its limits, and a
// well-formed response parses to the same head and body however the bytes are split.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { chunked, fieldName, fieldValue, garbageProperties, splitAt } from '../../test/waypoint/http1-fuzz.js';
import { Http1ParseError, ResponseParser, type ResponseHead } from './response-parser.js';

const LIMITS = { maxHeadBytes: 2048, maxHeaders: 32 };

interface Parsed {
  head?: ResponseHead;
  body: Buffer[];
  ended: boolean;
}

function parser(): { p: ResponseParser; out: Parsed } {
  const out: Parsed = { body: [], ended: false };
  const p = new ResponseParser(
    {
      onHead: (h) => (out.head = h),
      onBody: (c) => out.body.push(Buffer.from(c)),
      onEnd: () => (out.ended = true),
    },
    LIMITS,
  );
  return { p, out };
}

/** Feeds the pieces; only Http1ParseError may escape. */
function feedAll(pieces: Buffer[], head = false): Parsed {
  const { p, out } = parser();
  p.reset(head);
  try {
    for (const piece of pieces) p.feed(piece);
    p.end();
  } catch (err) {
    expect(err).toBeInstanceOf(Http1ParseError);
  }
  return out;
}

const token = fieldName;
const value = fieldValue;
const RESERVED = new Set(['content-length', 'transfer-encoding', 'connection', 'set-cookie']);

const response = fc.record({
  status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304), // those have no body
  headers: fc.array(fc.tuple(token, value), { maxLength: 10 }),
  body: fc.uint8Array({ maxLength: 600 }),
  chunked: fc.boolean(),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 6 }),
});

interface Generated {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
  chunked: boolean;
  chunkSizes: number[];
}

function encode(r: Generated): Buffer {
  const headers = r.headers.filter(([n]) => !RESERVED.has(n));
  let head = `HTTP/1.1 ${r.status} Whatever\r\n`;
  for (const [n, v] of headers) head += `${n}: ${v}\r\n`;
  const body = Buffer.from(r.body);
  if (!r.chunked) return Buffer.concat([Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`), body]);
  return Buffer.concat([
    Buffer.from(`${head}transfer-encoding: chunked\r\n\r\n`),
    chunked(body, r.chunkSizes, 'grpc-status: 0\r\n'),
  ]);
}

describe('upstream HTTP/1 response parser (fuzz)', () => {
  garbageProperties(
    (pieces) => void feedAll(pieces),
    ['content-length: 10', 'transfer-encoding: chunked', 'connection: close'].map(
      (v) => `HTTP/1.1 200 OK\r\n${v}\r\n\r\n`,
    ),
  );

  it.prop([response, fc.array(fc.nat(), { maxLength: 8 })], fuzzParams())(
    'a well-formed response gives the same head and body however it is split',
    (r, cuts) => {
      const out = feedAll(splitAt(encode(r), cuts));
      expect(out.ended).toBe(true);
      expect(out.head?.status).toBe(r.status);
      expect(out.head?.keepAlive).toBe(true);
      expect(Buffer.concat(out.body).equals(Buffer.from(r.body))).toBe(true);
      for (const [n] of r.headers.filter(([name]) => !RESERVED.has(name))) expect(out.head?.headers[n]).toBeDefined();
    },
    fuzzTimeout(),
  );

  it.prop([fc.integer({ min: 1, max: 64 }), fc.constantFrom('head', 'chunk', 'trailer')], fuzzParams({ quick: 50 }))(
    'holds at most its limits of a response that never ends its head, chunk line or trailers',
    (pieceKb, where) => {
      const { p } = parser();
      p.reset(false);
      const prefix =
        where === 'head'
          ? 'HTTP/1.1 200 OK\r\n'
          : where === 'chunk'
            ? 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1'
            : 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n';
      const filler = Buffer.alloc(pieceKb * 16, where === 'chunk' ? '0' : 'a');
      let thrown: unknown;
      try {
        p.feed(Buffer.from(prefix));
        for (let sent = 0; sent < 100 * 1024; sent += filler.length) p.feed(filler);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(Http1ParseError);
    },
    fuzzTimeout(),
  );
});
