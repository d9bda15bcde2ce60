// Property-based tests of the downstream HTTP/1 request parser (bytes from any client): it
// never throws anything but its own parse error, never holds more than its limits, and a
// well-formed request (or a pipelined series of them) parses to the same heads, bodies and
// trailers however the bytes are split.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { chunked, fieldName, fieldValue, garbageProperties, splitAt } from '../../test/waypoint/http1-fuzz.js';
import { Http1RequestError, RequestParser, type Fields, type RequestHead } from './request-parser.js';

const LIMITS = { maxHeadBytes: 2048, maxHeaders: 32 };

interface Parsed {
  head?: RequestHead;
  body: Buffer[];
  trailers?: Fields;
  ended: boolean;
}

/** Feeds the pieces, moving on to the next request as a server would; only Http1RequestError may escape. */
function feedAll(pieces: Buffer[]): { requests: Parsed[]; error?: Http1RequestError } {
  const requests: Parsed[] = [];
  let current: Parsed | undefined;
  const p = new RequestParser(
    {
      onHead: (head) => {
        current = { head, body: [], ended: false };
        requests.push(current);
      },
      onBody: (c) => current!.body.push(Buffer.from(c)),
      onEnd: (trailers) => {
        current!.ended = true;
        if (trailers) current!.trailers = trailers;
      },
    },
    LIMITS,
  );
  try {
    for (const piece of pieces) {
      let rest: Buffer | undefined = piece;
      while (rest !== undefined && rest.length > 0) {
        if (p.done) p.next();
        rest = p.feed(rest);
      }
    }
  } catch (err) {
    expect(err).toBeInstanceOf(Http1RequestError);
    expect([400, 431]).toContain((err as Http1RequestError).status);
    return { requests, error: err as Http1RequestError };
  }
  return { requests };
}

const token = fieldName;
const value = fieldValue;
// Fields with framing or node's join rules are left to the unit cases.
const RESERVED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'host',
  'expect',
  'set-cookie',
  'cookie',
]);
const FIRST_ONLY = new Set(
  'age authorization content-type etag expires from if-modified-since if-unmodified-since last-modified location'
    .concat(' max-forwards proxy-authorization referer retry-after server user-agent')
    .split(' '),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  path: fc.stringMatching(/^\/[!-~]{0,40}$/),
  headers: fc.uniqueArray(fc.tuple(token, value), { maxLength: 10, selector: ([n]) => n }),
  body: fc.uint8Array({ maxLength: 400 }),
  chunked: fc.boolean(),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 150 }), { minLength: 1, maxLength: 5 }),
  trailer: fc.option(fc.tuple(token, value), { nil: undefined }),
});

type Generated = typeof request extends fc.Arbitrary<infer T> ? T : never;

function kept(r: Generated): Array<[string, string]> {
  return r.headers.filter(([n]) => !RESERVED.has(n) && !FIRST_ONLY.has(n));
}

function encode(r: Generated): Buffer {
  let head = `${r.method} ${r.path} HTTP/1.1\r\nHost: svc.example:80\r\n`;
  for (const [n, v] of kept(r)) head += `${n}: ${v}\r\n`;
  const body = Buffer.from(r.body);
  if (!r.chunked) return Buffer.concat([Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n`), body]);
  const trailer = r.trailer && !RESERVED.has(r.trailer[0]) ? `${r.trailer[0]}: ${r.trailer[1]}\r\n` : '';
  return Buffer.concat([
    Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`),
    chunked(body, r.chunkSizes, trailer),
  ]);
}

describe('downstream HTTP/1 request parser (fuzz)', () => {
  garbageProperties(
    (pieces) => void feedAll(pieces),
    ['Content-Length: 10', 'Transfer-Encoding: chunked', 'Connection: close'].map(
      (v) => `POST / HTTP/1.1\r\nHost: x\r\n${v}\r\n\r\n`,
    ),
  );

  it.prop([fc.array(request, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 10 })], fuzzParams())(
    'well-formed (pipelined) requests give the same heads, bodies and trailers however they are split',
    (rs, cuts) => {
      const whole = Buffer.concat(rs.map(encode));
      const { requests, error } = feedAll(splitAt(whole, cuts));
      expect(error).toBeUndefined();
      expect(requests).toHaveLength(rs.length);
      rs.forEach((r, i) => {
        const got = requests[i]!;
        expect(got.ended).toBe(true);
        expect(got.head?.method).toBe(r.method);
        expect(got.head?.url).toBe(r.path);
        expect(got.head?.keepAlive).toBe(true);
        expect(got.head?.headers.host).toBe('svc.example:80');
        expect(Buffer.concat(got.body).equals(Buffer.from(r.body))).toBe(true);
        for (const [n, v] of kept(r)) expect(got.head?.headers[n]).toBe(v);
        if (r.chunked && r.trailer && !RESERVED.has(r.trailer[0]))
          expect(got.trailers?.[r.trailer[0]]).toBe(r.trailer[1]);
        else expect(got.trailers).toBeUndefined();
      });
      // And the same as parsed whole.
      const once = feedAll([whole]).requests;
      expect(once.map((q) => q.head)).toEqual(requests.map((q) => q.head));
    },
    fuzzTimeout(),
  );

  it.prop([fc.integer({ min: 1, max: 64 }), fc.constantFrom('head', 'chunk', 'trailer')], fuzzParams({ quick: 50 }))(
    'holds at most its limits of a request that never ends its head, chunk line or trailers',
    (pieceKb, where) => {
      let held = 0;
      const p = new RequestParser({ onHead: () => undefined, onBody: () => undefined, onEnd: () => undefined }, LIMITS);
      const prefix =
        where === 'head'
          ? 'GET / HTTP/1.1\r\nHost: x\r\n'
          : where === 'chunk'
            ? 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1'
            : 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n';
      const filler = Buffer.alloc(pieceKb * 16, where === 'chunk' ? '0' : 'a');
      let thrown: unknown;
      try {
        p.feed(Buffer.from(prefix));
        for (let sent = 0; sent < 100 * 1024; sent += filler.length) {
          p.feed(filler);
          held += filler.length;
        }
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(Http1RequestError);
      // Refused before it held much more than the largest limit (a head, or a 1 KiB chunk line).
      expect(held).toBeLessThanOrEqual(LIMITS.maxHeadBytes + filler.length);
    },
    fuzzTimeout(),
  );
});
