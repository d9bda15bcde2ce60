// Property-based tests of the ClientHello parser, which reads bytes any client controls: it
// never throws and never claims more bytes than it was given; every generated hello (random
// SNI, ALPN, padding, record framing) parses back to what was written, every strict prefix of
// it is incomplete, and random mutations of it give a decision or `incomplete`, never a crash.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { arbitraryBytes, fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { parseClientHello } from './client-hello.js';
import { helloBytes, splitIntoRecords } from './test-fixtures.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const hostName = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
const alpnId = fc.stringMatching(/^[a-z0-9/.-]{1,12}$/);
const hello = fc.record({
  serverName: fc.option(hostName, { nil: undefined }),
  alpn: fc.option(fc.array(alpnId, { minLength: 1, maxLength: 4 }), { nil: undefined }),
  padding: fc.integer({ min: 0, max: 3000 }),
  recordSize: fc.integer({ min: 1, max: 16_384 }),
});

describe('parseClientHello (fuzz)', () => {
  it.prop([arbitraryBytes(512)], fuzzParams())('never throws on arbitrary bytes', (bytes) => {
    const r = parseClientHello(bytes);
    if (r.kind === 'client-hello') expect(r.bytes).toBeLessThanOrEqual(bytes.length);
  });

  it.prop([hello], fuzzParams())(
    'a generated hello parses back, under any record framing',
    (h) => {
      const bytes = splitIntoRecords(helloBytes(h), h.recordSize);
      const r = parseClientHello(bytes);
      expect(r).toEqual({
        kind: 'client-hello',
        ...(h.serverName !== undefined ? { serverName: h.serverName } : {}),
        alpn: h.alpn ?? [],
        bytes: bytes.length,
      });
    },
    fuzzTimeout(),
  );

  it.prop([hello, fc.double({ min: 0, max: 1, noNaN: true })], fuzzParams())(
    'a strict prefix of a hello is incomplete',
    (h, at) => {
      const bytes = splitIntoRecords(helloBytes(h), h.recordSize);
      const cut = Math.min(bytes.length - 1, Math.floor(at * bytes.length));
      expect(parseClientHello(bytes.subarray(0, cut)).kind).toBe('incomplete');
    },
  );

  it.prop(
    [hello, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })],
    fuzzParams(),
  )('mutated hellos give a decision or incomplete, never a throw', (h, edits) => {
    const bytes = Buffer.from(splitIntoRecords(helloBytes(h), h.recordSize));
    for (const [pos, value] of edits) bytes[pos % bytes.length] = value;
    const r = parseClientHello(bytes);
    expect(['incomplete', 'not-tls', 'invalid', 'client-hello']).toContain(r.kind);
    if (r.kind === 'client-hello' && r.serverName !== undefined) expect(r.serverName).toMatch(/^[a-z0-9._-]+$/);
  });
});
