// readSni against real ClientHellos (captured from node:tls on loopback): the name, every
// prefix asks for more, a client without SNI, and bytes that are not TLS.
import { describe, expect, it } from 'vitest';
import { captureClientHello } from '../../test/e2e/ingress-pki.js';
import { MAX_CLIENT_HELLO_BYTES, readSni } from './sni.js';

describe('readSni', () => {
  it('reads the server name of a real ClientHello, lower-cased', async () => {
    const hello = await captureClientHello('Shop.Example.com');
    expect(readSni(hello)).toEqual({ kind: 'hello', serverName: 'shop.example.com' });
  });

  it('asks for more on every prefix of the record', async () => {
    const hello = await captureClientHello('db.example.com');
    for (let n = 0; n < hello.length; n += 7) expect(readSni(hello.subarray(0, n)).kind).toBe('need-more');
  });

  it('a ClientHello without SNI has no name', async () => {
    // node:tls sends no SNI for an IP literal host.
    const hello = await captureClientHello(undefined);
    expect(readSni(hello)).toEqual({ kind: 'hello', serverName: undefined });
  });

  it('refuses what is not one TLS handshake record', () => {
    expect(readSni(Buffer.from('GET / HTTP/1.1\r\n\r\n')).kind).toBe('not-tls');
    expect(readSni(Buffer.from([22, 3, 1, 0, 0])).kind).toBe('not-tls'); // empty record
    const tooLong = Buffer.from([22, 3, 1, 0xff, 0xff]);
    expect(readSni(tooLong).kind).toBe('not-tls');
    expect(MAX_CLIENT_HELLO_BYTES).toBe(16_389);
  });

  it('refuses a record whose inner lengths run past it', async () => {
    const hello = Buffer.from(await captureClientHello('a.example.com'));
    hello.writeUInt16BE(0xffff, 5 + 4 + 2 + 32 + 1 + hello[5 + 4 + 2 + 32]!); // cipher suites length
    expect(readSni(hello).kind).toBe('not-tls');
  });
});
