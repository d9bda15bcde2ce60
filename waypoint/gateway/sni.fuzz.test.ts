// Property-based tests of the ClientHello reader a gateway's TLS port uses (core/tls), on bytes
// from any client: it never throws, and any name it returns is
// a plain lower-case host name; truncating or corrupting a real ClientHello never crashes it.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { arbitraryBytes, fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { captureClientHello } from '../../test/e2e/ingress-pki.js';
import { parseClientHello } from '../../core/tls/client-hello.js';

function checkResult(bytes: Uint8Array): void {
  const r = parseClientHello(Buffer.from(bytes));
  expect(['incomplete', 'not-tls', 'invalid', 'client-hello']).toContain(r.kind);
  if (r.kind === 'client-hello' && r.serverName !== undefined) {
    expect(r.serverName).toMatch(/^[a-z0-9.*_-]{1,253}$/);
    expect(r.serverName.endsWith('.')).toBe(false);
  }
}

const hello = await captureClientHello('fuzz.example.com');

describe('gateway SNI reading (fuzz)', () => {
  it.prop([arbitraryBytes(512)], fuzzParams())(
    'never throws on arbitrary bytes',
    (bytes) => checkResult(bytes),
    fuzzTimeout(),
  );

  it.prop([arbitraryBytes(64)], fuzzParams())(
    'never throws on a handshake header followed by arbitrary bytes',
    (tail) => checkResult(Buffer.concat([Buffer.from([22, 3, 1, tail.length >> 8, tail.length & 0xff]), tail])),
    fuzzTimeout(),
  );

  it.prop([fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat()], fuzzParams())(
    'never throws on a corrupted or truncated real ClientHello',
    (flips, cut) => {
      const copy = Buffer.from(hello);
      for (const [at, value] of flips) copy[at % copy.length] = value;
      checkResult(copy.subarray(0, cut % (copy.length + 1)));
      checkResult(copy);
    },
    fuzzTimeout(),
  );
});
