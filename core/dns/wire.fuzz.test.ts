// Property-based tests of the DNS decoder, which reads bytes from pods and from upstream
// resolvers: any input is a message or an AMBIT_E_DNS error (never another exception, never
// a hang), a decoded name stays within 255 octets, and what the encoder writes decodes back.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { arbitraryBytes, fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { isAmbitError } from '../errors.js';
import { addressRecord, decodeMessage, encodeMessage, queryMessage, TYPE } from './wire.js';

const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
const name = fc.array(label, { minLength: 1, maxLength: 6 }).map((l) => l.join('.'));

/** A valid query with some bytes flipped, cut or appended: close to what a parser must survive. */
const mutatedQuery = fc
  .tuple(name, fc.integer({ min: 0, max: 65535 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))))
  .map(([n, id, flips]) => {
    const bytes = Uint8Array.from(encodeMessage(queryMessage(id, n, TYPE.A)));
    for (const [at, v] of flips) bytes[at % bytes.length] = v;
    return bytes;
  });

const decodeOrReject = (bytes: Uint8Array): void => {
  try {
    const m = decodeMessage(bytes);
    for (const q of m.questions) expect(q.name.length).toBeLessThanOrEqual(255);
    for (const r of [...m.answers, ...m.authorities, ...m.additionals]) expect(r.name.length).toBeLessThanOrEqual(255);
  } catch (err) {
    if (!isAmbitError(err, 'AMBIT_E_DNS')) throw err;
  }
};

describe('DNS decoder under arbitrary input', () => {
  it.prop([fc.oneof(arbitraryBytes(600), mutatedQuery)], fuzzParams({ quick: 500 }))(
    'yields a message or AMBIT_E_DNS, nothing else',
    (bytes) => {
      decodeOrReject(bytes);
    },
    fuzzTimeout(),
  );

  it.prop([name, fc.integer({ min: 0, max: 65535 }), fc.array(fc.ipV4(), { maxLength: 8 })], fuzzParams())(
    'decodes what it encodes',
    (n, id, ips) => {
      const q = queryMessage(id, n, TYPE.A);
      const m = { ...q, response: true, answers: ips.map((ip) => addressRecord(n, ip, 30)) };
      const back = decodeMessage(encodeMessage(m));
      expect(back.id).toBe(id);
      expect(back.questions[0]?.name).toBe(n);
      expect(back.answers.length).toBe(ips.length);
    },
    fuzzTimeout(),
  );
});
