// The ClientHello parser against hellos Node's own TLS client writes (one record, and the same
// bytes split over several records and chunks), and the stream peek that puts the bytes back.
import net from 'node:net';
import tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseClientHello } from './client-hello.js';
import { peekClientHello } from './peek.js';
import { helloBytes, splitIntoRecords } from './test-fixtures.js';

/** The first bytes Node's TLS client sends to a server that never answers. */
async function realHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const got = new Promise<Buffer>((resolve) => {
      server.once('connection', (sock) => {
        const chunks: Buffer[] = [];
        sock.on('data', (d: Buffer) => {
          chunks.push(d);
          const all = Buffer.concat(chunks);
          if (parseClientHello(all).kind !== 'incomplete') {
            resolve(all);
            sock.destroy();
          }
        });
      });
    });
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    client.on('error', () => undefined);
    const bytes = await got;
    client.destroy();
    return bytes;
  } finally {
    server.close();
  }
}

describe('parseClientHello', () => {
  it('reads SNI and ALPN from a real TLS 1.3 client hello', async () => {
    const bytes = await realHello({ servername: 'Orders.Shop.example', ALPNProtocols: ['h2', 'http/1.1'] });
    const r = parseClientHello(bytes);
    expect(r).toMatchObject({ kind: 'client-hello', serverName: 'orders.shop.example', alpn: ['h2', 'http/1.1'] });
    expect(r.kind === 'client-hello' && r.bytes).toBe(bytes.length);
  });

  it('a hello without SNI has no server name', async () => {
    const bytes = await realHello({ servername: '' });
    const r = parseClientHello(bytes);
    expect(r.kind).toBe('client-hello');
    expect(r.kind === 'client-hello' && r.serverName).toBeUndefined();
  });

  it('every strict prefix of a hello is incomplete; split over records it parses the same', async () => {
    const bytes = await realHello({ servername: 'a.example' });
    for (let n = 0; n < bytes.length; n++) expect(parseClientHello(bytes.subarray(0, n)).kind).toBe('incomplete');
    const split = splitIntoRecords(bytes, 7);
    expect(parseClientHello(split)).toMatchObject({
      kind: 'client-hello',
      serverName: 'a.example',
      bytes: split.length,
    });
  });

  it('plaintext is not TLS; broken hellos are invalid', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('not-tls');
    expect(parseClientHello(Buffer.from([0x16, 0x02])).kind).toBe('not-tls');
    const good = helloBytes({ serverName: 'x.example' });
    expect(parseClientHello(good)).toMatchObject({ kind: 'client-hello', serverName: 'x.example' });
    expect(parseClientHello(helloBytes({ serverName: 'bad name' })).kind).toBe('invalid');
    expect(parseClientHello(helloBytes({ serverName: 'a..b' })).kind).toBe('invalid');
    // Record length above 2^14.
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])).kind).toBe('invalid');
    // A server hello (type 2) where a client hello belongs.
    const server = Buffer.from(good);
    server[5] = 0x02;
    expect(parseClientHello(server).kind).toBe('invalid');
  });

  it('stops at the byte bound instead of buffering a huge hello', () => {
    const big = helloBytes({ serverName: 'x.example', padding: 40_000 });
    expect(parseClientHello(big).kind).toBe('invalid');
    // The first record declares the hello's length: refused before the rest arrives.
    expect(parseClientHello(big.subarray(0, 16_389)).kind).toBe('invalid');
    expect(parseClientHello(big.subarray(0, 16_388)).kind).toBe('incomplete');
    expect(parseClientHello(big, 64 * 1024)).toMatchObject({ kind: 'client-hello', serverName: 'x.example' });
  });
});

describe('peekClientHello', () => {
  it('returns the hello and leaves every byte for the next reader', async () => {
    const hello = splitIntoRecords(helloBytes({ serverName: 'peek.example', alpn: ['h2'] }), 50);
    const stream = new PassThrough();
    const peeked = peekClientHello(stream);
    for (let i = 0; i < hello.length; i += 13) stream.write(hello.subarray(i, i + 13));
    stream.write('tail');
    expect(await peeked).toMatchObject({ kind: 'client-hello', serverName: 'peek.example', alpn: ['h2'] });
    const rest: Buffer[] = [];
    stream.on('data', (d: Buffer) => rest.push(d));
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    expect(Buffer.concat(rest).equals(Buffer.concat([hello, Buffer.from('tail')]))).toBe(true);
  });

  it('reports a stream that ends early, and one that stays silent past the deadline', async () => {
    const ended = new PassThrough();
    const p = peekClientHello(ended);
    ended.end(Buffer.from([0x16, 0x03, 0x01]));
    expect(await p).toEqual({ kind: 'closed' });
    expect(await peekClientHello(new PassThrough(), { timeoutMs: 20 })).toEqual({ kind: 'timeout' });
  });
});
