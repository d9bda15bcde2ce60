// The gateway's SNI reading (core/tls parseClientHello) against real ClientHellos captured from
// node:tls on loopback: the name, every prefix asks for more, a client without SNI, and bytes
// that are not one TLS hello.
import { describe, expect, it } from 'vitest';
import { captureClientHello } from '../../test/e2e/ingress-pki.js';
import { parseClientHello } from '../../core/tls/client-hello.js';

const readSni = (b: Buffer) => parseClientHello(b);
const refused = (b: Buffer) => ['not-tls', 'invalid'].includes(readSni(b).kind);

describe('readSni', () => {
  it('reads the server name of a real ClientHello, lower-cased', async () => {
    const hello = await captureClientHello('Shop.Example.com');
    expect(readSni(hello)).toMatchObject({ kind: 'client-hello', serverName: 'shop.example.com' });
  });

  it('asks for more on every prefix of the record', async () => {
    const hello = await captureClientHello('db.example.com');
    for (let n = 0; n < hello.length; n += 7) expect(readSni(hello.subarray(0, n)).kind).toBe('incomplete');
  });

  it('a ClientHello without SNI has no name', async () => {
    // node:tls sends no SNI for an IP literal host.
    const hello = await captureClientHello(undefined);
    const r = readSni(hello);
    expect(r.kind).toBe('client-hello');
    expect(r.kind === 'client-hello' ? r.serverName : 'none').toBeUndefined();
  });

  it('refuses what is not one TLS handshake record', () => {
    expect(readSni(Buffer.from('GET / HTTP/1.1\r\n\r\n')).kind).toBe('not-tls');
    expect(refused(Buffer.from([22, 3, 1, 0, 0]))).toBe(true); // empty record
    expect(refused(Buffer.from([22, 3, 1, 0xff, 0xff]))).toBe(true); // longer than a TLS record
  });

  it('refuses a record whose inner lengths run past it', async () => {
    const hello = Buffer.from(await captureClientHello('a.example.com'));
    hello.writeUInt16BE(0xffff, 5 + 4 + 2 + 32 + 1 + hello[5 + 4 + 2 + 32]!); // cipher suites length
    expect(refused(hello)).toBe(true);
  });
});
