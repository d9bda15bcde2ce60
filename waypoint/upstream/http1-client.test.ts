// The waypoint's own HTTP/1.1 client on pooled streams: framing both ways, keep-alive and
// its limits, backpressure, cancellation, and what a broken or hostile server gets.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Duplex, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Client } from './http1-client.js';
import { RequestCancel } from './transport-cancel.js';
import type { UpstreamRequest, UpstreamResponse } from './transport.js';

/** A duplex over a TCP socket that is not a net.Socket, as HBONE streams are. */
function notASocket(s: net.Socket): Duplex {
  return Duplex.from({ readable: s, writable: s });
}

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A client dialing `port`, counting its dials; tunnels (not net.Socket) unless `tcp`. */
function client(port: number, opts: ConstructorParameters<typeof Http1Client>[1] = {}, tcp = false) {
  const dials = { count: 0 };
  const c = new Http1Client(
    () =>
      new Promise((resolve, reject) => {
        dials.count++;
        const s = net.connect(port, '127.0.0.1', () => resolve(tcp ? s : notASocket(s)));
        s.once('error', reject);
      }),
    opts,
  );
  cleanup.push(() => c.close());
  return { c, dials };
}

function req(over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return {
    method: 'GET',
    path: '/',
    authority: 'svc.example:80',
    headers: {},
    body: undefined,
    signal: new RequestCancel(),
    ...over,
  };
}

async function text(res: UpstreamResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** A raw server answering every request head with `answer` (bytes as given). */
async function rawServer(answer: (head: string, socket: net.Socket) => void): Promise<number> {
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.on('data', (c: Buffer) => {
      buffered += c.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        answer(head, socket);
      }
    });
    socket.on('error', () => undefined);
  });
  return listen(server);
}

describe('Http1Client', () => {
  it('sends the request head once, with host and framing, and reuses the connection', async () => {
    const seen: Array<{ host?: string; length?: string; te?: string; body: string; x?: string | string[] }> = [];
    const server = http.createServer((rq, rs) => {
      let body = '';
      rq.on('data', (c: Buffer) => (body += c.toString()));
      rq.on('end', () => {
        seen.push({
          host: rq.headers.host,
          length: rq.headers['content-length'],
          te: rq.headers['transfer-encoding'],
          body,
          x: rq.headers['x-multi'],
        });
        rs.setHeader('set-cookie', ['a=1', 'b=2']);
        rs.end(`echo ${body}`);
      });
    });
    const { c, dials } = client(await listen(server));
    const a = await c.request(req({ headers: { 'x-multi': ['1', '2'], connection: 'close', host: 'ignored' } }));
    expect(await text(a)).toBe('echo ');
    expect(a.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(a.headers.connection).toBeUndefined();
    const b = await c.request(req({ method: 'POST', body: Buffer.from('hello') }));
    expect(await text(b)).toBe('echo hello');
    const streamed = await c.request(
      req({ method: 'PUT', body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) }),
    );
    expect(await text(streamed)).toBe('echo abcd');
    const empty = await c.request(req({ method: 'POST' }));
    expect(await text(empty)).toBe('echo ');
    expect(dials.count).toBe(1);
    expect(seen[0]).toEqual({ host: 'svc.example:80', length: undefined, te: undefined, body: '', x: '1, 2' });
    expect(seen[1]).toMatchObject({ length: '5', body: 'hello' });
    expect(seen[2]).toMatchObject({ te: 'chunked', body: 'abcd' });
    expect(seen[3]).toMatchObject({ length: '0', body: '' });
  });

  it('streams a large upload and a large download with backpressure', async () => {
    const server = http.createServer((rq, rs) => rq.pipe(rs));
    const { c } = client(await listen(server));
    const size = 4 * 1024 * 1024;
    const payload = Buffer.alloc(size, 7);
    const res = await c.request(
      req({
        method: 'POST',
        headers: { 'content-length': String(size) },
        body: Readable.from(
          (function* () {
            for (let at = 0; at < size; at += 65536) yield payload.subarray(at, at + 65536);
          })(),
        ),
      }),
    );
    let got = 0;
    for await (const chunk of res.body) {
      got += (chunk as Buffer).length;
      if (got % (1024 * 1024) < 65536) await new Promise((r) => setImmediate(r)); // a slow reader
    }
    expect(got).toBe(size);
  });

  it('reads HEAD, 204, 304, 1xx and chunked responses and keeps the connection', async () => {
    const port = await rawServer((head, s) => {
      const path = head.split(' ')[1];
      if (path === '/head') s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
      else if (path === '/204') s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (path === '/304') s.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n');
      else if (path === '/1xx')
        s.write(
          'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nlink: x\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
        );
      else {
        // chunked, split at awkward places, with a trailer
        const parts = [
          'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r',
          '\nabc\r\n',
          '4;ext=1\r\ndefg',
          '\r\n0\r\nx-t: 1\r\n\r',
          '\n',
        ];
        for (const p of parts) s.write(p);
      }
    });
    const { c, dials } = client(port);
    expect(await text(await c.request(req({ method: 'HEAD', path: '/head' })))).toBe('');
    expect((await c.request(req({ path: '/204' }))).status).toBe(204);
    expect(await text(await c.request(req({ path: '/304' })))).toBe('');
    const early = await c.request(req({ path: '/1xx' }));
    expect(early.status).toBe(200);
    expect(await text(early)).toBe('ok');
    expect(await text(await c.request(req({ path: '/chunked' })))).toBe('abcdefg');
    expect(await text(await c.request(req({ path: '/204' })))).toBe('');
    expect(dials.count).toBe(1);
  });

  it('closes the connection after connection: close, a body read until close, or maxRequestsPerConnection', async () => {
    const port = await rawServer((head, s) => {
      const path = head.split(' ')[1];
      if (path === '/close') s.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
      else if (path === '/eof') s.end('HTTP/1.0 200 OK\r\n\r\nuntil the end');
      else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const { c, dials } = client(port, { maxRequestsPerConnection: 2 });
    expect(await text(await c.request(req({ path: '/close' })))).toBe('ok');
    expect(await text(await c.request(req({ path: '/eof' })))).toBe('until the end');
    expect(await text(await c.request(req()))).toBe('ok');
    expect(await text(await c.request(req()))).toBe('ok');
    expect(await text(await c.request(req()))).toBe('ok');
    expect(dials.count).toBe(4);
  });

  it('queues requests beyond maxConnections and cancels a queued one', async () => {
    const held: net.Socket[] = [];
    const port = await rawServer((head, s) => {
      if (head.startsWith('GET /hold')) held.push(s);
      else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const { c, dials } = client(port, { maxConnections: 1 });
    const first = c.request(req({ path: '/hold' }));
    const cancel = new RequestCancel();
    const queued = c.request(req({ signal: cancel }));
    const third = c.request(req());
    cancel.abort();
    await expect(queued).rejects.toMatchObject({ code: 'ABORT_ERR' });
    while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
    held[0]!.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nheld');
    expect(await text(await first)).toBe('held');
    expect(await text(await third)).toBe('ok');
    expect(dials.count).toBe(1);
  });

  it('cancelling mid-body errors the body and drops the connection; the next request dials again', async () => {
    const port = await rawServer((head, s) => {
      if (head.startsWith('GET /slow')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart');
      else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const { c, dials } = client(port, {}, true);
    const cancel = new RequestCancel();
    const res = await c.request(req({ path: '/slow', signal: cancel }));
    const failed = new Promise<Error>((resolve) => res.body.once('error', resolve));
    res.body.resume();
    cancel.abort();
    expect(await failed).toMatchObject({ code: 'ABORT_ERR' });
    expect(await text(await c.request(req()))).toBe('ok');
    expect(dials.count).toBe(2);
    // Cancelled before it is sent at all.
    const pre = new RequestCancel();
    pre.abort();
    await expect(c.request(req({ signal: pre }))).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it('rejects malformed, oversized and cut-short responses, and requests that would split', async () => {
    const port = await rawServer((head, s) => {
      const path = head.split(' ')[1];
      if (path === '/bad') s.write('HTTP/1.1 2OO OK\r\n\r\n');
      else if (path === '/big') s.write(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
      else if (path === '/smuggle') s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nok');
      else if (path === '/cut') s.end('HTTP/1.1 200 OK\r\ncontent-len');
      else if (path === '/extra') s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n');
      else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const { c } = client(port);
    await expect(c.request(req({ path: '/bad' }))).rejects.toMatchObject({ code: 'AMBIT_E_UPSTREAM_HTTP1' });
    await expect(c.request(req({ path: '/big' }))).rejects.toMatchObject({ code: 'AMBIT_E_UPSTREAM_HTTP1' });
    await expect(c.request(req({ path: '/smuggle' }))).rejects.toMatchObject({ code: 'AMBIT_E_UPSTREAM_HTTP1' });
    await expect(c.request(req({ path: '/cut' }))).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(c.request(req({ headers: { 'x-evil': 'a\r\nx-injected: 1' } }))).rejects.toMatchObject({
      code: 'AMBIT_E_UPSTREAM_REQUEST',
    });
    await expect(c.request(req({ path: '/a b' }))).rejects.toMatchObject({ code: 'AMBIT_E_UPSTREAM_REQUEST' });
    // Extra bytes after a complete response: the response stands, the connection does not.
    expect(await text(await c.request(req({ path: '/extra' })))).toBe('ok');
    expect(await text(await c.request(req()))).toBe('ok');
  });

  it('fails a request whose dial fails, with the dial error', async () => {
    const c = new Http1Client(() =>
      Promise.reject(Object.assign(new Error('refused'), { code: 'AMBIT_E_HBONE_CONNECT' })),
    );
    await expect(c.request(req())).rejects.toMatchObject({ code: 'AMBIT_E_HBONE_CONNECT' });
  });
});
