// Property-based tests of CSR decoding (the CA's input from any workload): arbitrary text,
// arbitrary DER in a PEM block, and corrupted real CSRs are refused with AMBIT_E_CSR or parsed,
// never another exception; a corrupted CSR that still parses carries the signed identity.
import { beforeAll, describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout, arbitraryBytes } from '../../test/support/fuzz.js';
import { isAmbitError } from '../errors.js';
import { createCsr, generateWorkloadKey, parseCsr } from './csr.js';
import { pemBlocks, toPem } from './x509.js';

const IDENTITY = 'spiffe://cluster.local/ns/shop/sa/checkout';

function onlyCsrErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!isAmbitError(err) || err.code !== 'AMBIT_E_CSR') throw err;
    return undefined;
  }
}

function derOf(pem: string): Buffer {
  return Buffer.from(
    pemBlocks(pem, 'CERTIFICATE REQUEST')[0]!
      .replace(/-----[A-Z ]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
}

describe('CSR decoding (fuzz)', () => {
  let der: Buffer;
  beforeAll(async () => {
    const key = await generateWorkloadKey();
    der = derOf(createCsr(IDENTITY, key.privateKey));
    expect(parseCsr(toPem('CERTIFICATE REQUEST', der)).uris).toEqual([IDENTITY]);
  });

  it.prop(
    [
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.string({ maxLength: 300, unit: 'binary' }),
        fc.string().map((s) => `-----BEGIN CERTIFICATE REQUEST-----\n${s}\n-----END CERTIFICATE REQUEST-----\n`),
      ),
    ],
    fuzzParams(),
  )(
    'arbitrary text is refused with AMBIT_E_CSR',
    (text) => {
      expect(onlyCsrErrors(() => parseCsr(text))).toBeUndefined();
    },
    fuzzTimeout(),
  );

  it.prop([arbitraryBytes(600)], fuzzParams())(
    'arbitrary DER in a PEM block is refused with AMBIT_E_CSR',
    (bytes) => {
      expect(onlyCsrErrors(() => parseCsr(toPem('CERTIFICATE REQUEST', Buffer.from(bytes))))).toBeUndefined();
    },
    fuzzTimeout(),
  );

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  );
  it.prop([fc.array(mutation, { minLength: 1, maxLength: 3 })], fuzzParams())(
    'a corrupted CSR is refused with AMBIT_E_CSR, or still carries exactly the signed identity',
    (mutations) => {
      let bytes = Buffer.from(der);
      for (const m of mutations) {
        const i = m.at % (bytes.length + 1);
        if (m.kind === 'set' && i < bytes.length) bytes[i] = m.byte;
        else if (m.kind === 'flip' && i < bytes.length) bytes[i] = bytes[i]! ^ (1 << m.bit);
        else if (m.kind === 'cut') bytes = bytes.subarray(0, i);
        else if (m.kind === 'insert')
          bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from(m.bytes), bytes.subarray(i)]);
      }
      const parsed = onlyCsrErrors(() => parseCsr(toPem('CERTIFICATE REQUEST', bytes)));
      if (parsed) expect(parsed.uris).toEqual([IDENTITY]);
    },
    fuzzTimeout(),
  );
});
