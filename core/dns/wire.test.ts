import { describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import {
  addressRecord,
  decodeMessage,
  encodeMessage,
  MAX_POINTERS,
  queryMessage,
  RCODE,
  recordAddress,
  TYPE,
  type DnsMessage,
} from './wire.js';

const header = (qd: number, an = 0): number[] => [0x12, 0x34, 0x01, 0x00, 0, qd, 0, an, 0, 0, 0, 0];
const rejects = (bytes: number[] | Uint8Array): string => {
  try {
    decodeMessage(Uint8Array.from(bytes));
    return 'accepted';
  } catch (err) {
    expect(isAmbitError(err, 'AMBIT_E_DNS')).toBe(true);
    return (err as Error).message;
  }
};

describe('DNS wire format', () => {
  it('round-trips a query and an answer with A and AAAA records', () => {
    const q = queryMessage(0xbeef, 'Api.Example.COM.', TYPE.A);
    const back = decodeMessage(encodeMessage(q));
    expect(back.id).toBe(0xbeef);
    expect(back.recursionDesired).toBe(true);
    expect(back.questions).toEqual([{ name: 'Api.Example.COM', type: TYPE.A, class: 1 }]);
    const answer: DnsMessage = {
      ...q,
      response: true,
      authoritative: true,
      rcode: RCODE.NOERROR,
      answers: [
        addressRecord('api.example.com', '240.240.1.2', 30),
        addressRecord('api.example.com', '2001:2::1f', 30),
      ],
    };
    const decoded = decodeMessage(encodeMessage(answer));
    expect(decoded.response).toBe(true);
    expect(decoded.answers.map(recordAddress)).toEqual(['240.240.1.2', '2001:2:0:0:0:0:0:1f']);
    expect(decoded.answers[0]?.ttl).toBe(30);
  });

  it('follows backward compression pointers and keeps the case of the question', () => {
    // question "Foo.bar", answer name = pointer to offset 12
    const bytes = [
      ...header(1, 1),
      3,
      0x46,
      0x6f,
      0x6f,
      3,
      0x62,
      0x61,
      0x72,
      0,
      0,
      1,
      0,
      1,
      0xc0,
      12,
      0,
      1,
      0,
      1,
      0,
      0,
      0,
      60,
      0,
      4,
      10,
      0,
      0,
      1,
    ];
    const m = decodeMessage(Uint8Array.from(bytes));
    expect(m.questions[0]?.name).toBe('Foo.bar');
    expect(m.answers[0]?.name).toBe('Foo.bar');
    expect(recordAddress(m.answers[0]!)).toBe('10.0.0.1');
  });

  it('rejects loops, forward pointers, long names, lying counts and trailing bytes', () => {
    expect(rejects([1, 2, 3])).toMatch(/header/);
    // a pointer to itself
    expect(rejects([...header(1), 0xc0, 12, 0, 1, 0, 1])).toMatch(/backwards/);
    // a forward pointer
    expect(rejects([...header(1), 0xc0, 14, 0, 0, 1, 0, 1])).toMatch(/backwards/);
    // a chain of more than MAX_POINTERS pointers, each pointing one back
    const chain = [...header(1), 0];
    for (let i = 0; i <= MAX_POINTERS + 1; i++) chain.push(0xc0, chain.length - (i === 0 ? 1 : 2));
    expect(rejects([...chain.slice(0, -2), 0xc0, chain.length - 4, 0, 1, 0, 1])).toMatch(/pointer|section|after/);
    // 5 labels of 63: more than 255 octets
    const long = [...header(1)];
    for (let i = 0; i < 5; i++) long.push(63, ...new Array<number>(63).fill(0x61));
    expect(rejects([...long, 0, 0, 1, 0, 1])).toMatch(/255/);
    expect(rejects([...header(200)])).toMatch(/counts/);
    expect(rejects([...header(1), 1, 0x61, 0, 0, 1, 0, 1, 9])).toMatch(/after/);
    expect(rejects([...header(1), 0x80, 0, 1, 0, 1])).toMatch(/label type/);
    expect(rejects(new Uint8Array(70_000))).toMatch(/65535/);
  });

  it('refuses to encode a label over 63 octets', () => {
    expect(() => encodeMessage(queryMessage(1, `${'a'.repeat(64)}.com`, TYPE.A))).toThrow(/label/);
  });
});
