// The waypoint's own HTTP/1.1 server on a byte stream (TCP sockets here, tunnel streams in the
// waypoint): framing both ways, keep-alive and pipelining, what node:http did on the tunnel
// (100-continue, 417, CONNECT, 408, 431, 400), smuggling shapes refused, and a bad or slow
// client costing only its own connection.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Http1Request, Http1Response } from './exchange.js';
import { Http1Server, type Http1ServerOptions } from './server.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

type Handler = (req: Http1Request, res: Http1Response) => void;

/** An Http1Server behind a TCP listener; `seen` lists the requests handed to the handler. */
async function serve(handler: Handler, opts: Http1ServerOptions = {}) {
  const seen: Http1Request[] = [];
  const server = new Http1Server((req, res) => {
    seen.push(req);
    handler(req, res);
  }, opts);
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => server.handle(socket));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  cleanup.push(() => {
    server.closeAllConnections();
    listener.close();
  });
  return { server, seen, port: (listener.address() as AddressInfo).port };
}

/**
 * Sends `bytes` (pieces written one after another) and collects the reply until the server
 * closes, the reply matches `until` (a kept-alive connection), or `ms` pass.
 */
function raw(
  port: number,
  pieces: Array<string | Buffer>,
  ms = 5000,
  until?: RegExp,
): Promise<{ text: string; closed: boolean; socket: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ text, closed, socket });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (until?.test(text)) done(false);
    });
    socket.once('end', () => done(true));
    socket.once('close', () => done(true));
    socket.once('error', () => done(true));
    socket.on('connect', () => {
      for (const p of pieces) socket.write(p);
    });
  });
}

/** Reads the body as a string. */
async function bodyOf(req: Http1Request): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const ok: Handler = (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
};

function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

describe('waypoint HTTP/1 server', () => {
  it('serves keep-alive requests to node:http clients on one connection', async () => {
    const { port, seen } = await serve(async (req, res) => {
      const body = await bodyOf(req);
      res.writeHead(200, { 'x-method': req.method, 'x-url': req.url, 'content-length': String(body.length) });
      res.end(body);
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    const ask = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: unknown }>(
        (resolve, reject) => {
          const r = http.request({ port, host: '127.0.0.1', method, path, agent }, (res) => {
            let b = '';
            res.on('data', (c: Buffer) => (b += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b, socket: r.socket }));
          });
          r.on('error', reject);
          r.end(body);
        },
      );
    const a = await ask('POST', '/a?x=1', 'hello');
    const b = await ask('GET', '/b');
    const c = await ask('PUT', '/c', 'x'.repeat(100_000));
    expect([a.status, a.body, a.headers['x-method'], a.headers['x-url']]).toEqual([200, 'hello', 'POST', '/a?x=1']);
    expect([b.status, b.body]).toEqual([200, '']);
    expect(c.body.length).toBe(100_000);
    expect(a.headers.connection).toBe('keep-alive');
    expect(a.headers.date).toBeDefined();
    expect(b.socket).toBe(a.socket);
    expect(c.socket).toBe(a.socket);
    expect(seen.map((r) => r.httpVersion)).toEqual(['1.1', '1.1', '1.1']);
  });

  it('gives the handler node:http header objects (lower case, joined as node joins them)', async () => {
    const { port, seen } = await serve(ok);
    const r = await raw(
      port,
      [
        'GET /h HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\nX-Multi: 1\r\nx-multi: 2\r\n' +
          'Cookie: a=1\r\nCookie: b=2\r\nSet-Cookie: s=1\r\nSet-Cookie: s=2\r\nConstructor: c\r\n' +
          'X-Space:   padded value \t\r\n\r\n',
      ],
      10_000,
      /\r\n\r\nok$/,
    );
    expect(statuses(r.text)).toEqual([200]);
    const h = seen[0]!.headers;
    expect(h.host).toBe('a.example');
    expect(h['x-multi']).toBe('1, 2');
    expect(h.cookie).toBe('a=1; b=2');
    expect(h['set-cookie']).toEqual(['s=1', 's=2']);
    expect(h.constructor).toBe('c');
    expect(h['x-space']).toBe('padded value');
  });

  it('answers pipelined requests in order, reading the next only after the response before it', async () => {
    const order: string[] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const { port } = await serve((req, res) => {
      order.push(`start ${req.url}`);
      req.resume();
      const answer = () => {
        order.push(`end ${req.url}`);
        res.writeHead(200, { 'content-length': String(req.url.length) });
        res.end(req.url);
      };
      if (req.url === '/1') void first.then(answer);
      else answer();
    });
    const reply = raw(
      port,
      [
        'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
          'GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      ],
      5000,
    );
    // Once the first request is in the handler, the next ones stay unread while it is unanswered.
    for (let i = 0; i < 500 && order.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    expect(order).toEqual(['start /1']);
    release();
    const r = await reply;
    expect(order).toEqual(['start /1', 'end /1', 'start /2', 'end /2', 'start /3', 'end /3']);
    expect(r.text.indexOf('/1')).toBeLessThan(r.text.indexOf('/2'));
    expect(statuses(r.text)).toEqual([200, 200, 200]);
    expect(r.text).toMatch(/connection: close\r\n[\s\S]*\/3$/);
    expect(r.closed).toBe(true);
  });

  it('closes after a response when the client asked (Connection: close, HTTP/1.0 without keep-alive)', async () => {
    const { port } = await serve(ok);
    for (const req of ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'GET / HTTP/1.0\r\n\r\n']) {
      const r = await raw(port, [req]);
      expect(statuses(r.text)).toEqual([200]);
      expect(r.text).toMatch(/\r\nconnection: close\r\n/);
      expect(r.closed).toBe(true);
    }
    // HTTP/1.0 with keep-alive and a length: kept.
    const kept = await raw(port, ['GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], 10_000, /\r\n\r\nok$/);
    expect(kept.text).toMatch(/\r\nconnection: keep-alive\r\n/);
    expect(kept.closed).toBe(false);
  });

  it('frames responses: chunked with trailers, until close for HTTP/1.0, no body for HEAD/204/304', async () => {
    const { port } = await serve((req, res) => {
      req.resume();
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.write('abc');
        res.write(Buffer.from('de'));
        res.addTrailers({ 'grpc-status': '0' });
        res.end();
      } else if (req.url === '/204') {
        res.writeHead(204, {});
        res.end('ignored');
      } else {
        res.writeHead(200, { 'content-length': '5' });
        res.end('hello');
      }
    });
    const chunked = await raw(port, ['GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(chunked.text).toMatch(/transfer-encoding: chunked\r\n/);
    expect(chunked.text.endsWith('\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\ngrpc-status: 0\r\n\r\n')).toBe(true);
    const old = await raw(port, ['GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n']);
    expect(old.text).not.toMatch(/transfer-encoding/);
    expect(old.text.endsWith('\r\n\r\nabcde')).toBe(true);
    expect(old.closed).toBe(true);
    const head = await raw(
      port,
      ['HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\n'],
      10_000,
      /HTTP\/1\.1 204 [^]*\r\n\r\n$/,
    );
    expect(statuses(head.text)).toEqual([200, 204]);
    expect(head.text).toMatch(/content-length: 5\r\n/);
    expect(head.text).not.toMatch(/hello|ignored/);
  });

  it('answers 100 Continue before the handler reads the body, and 417 to other expectations', async () => {
    const { port, seen } = await serve(async (req, res) => {
      const body = await bodyOf(req);
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const r = await raw(port, [
      'POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n',
      'body',
      'POST /f HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 2\r\nConnection: close\r\n\r\nzz',
    ]);
    expect(statuses(r.text)).toEqual([100, 200, 417]);
    expect(r.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(seen.map((s) => s.url)).toEqual(['/e']);
  });

  it('reads chunked request bodies with trailers (req.trailers once ended)', async () => {
    let trailers: unknown;
    const { port } = await serve(async (req, res) => {
      const body = await bodyOf(req);
      trailers = { ...req.trailers };
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const r = await raw(port, [
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      '5;ext=1\r\nhello\r\n',
      '6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n',
    ]);
    expect(r.text.endsWith('hello world')).toBe(true);
    expect(trailers).toEqual({ 'x-checksum': 'abc' });
  });

  it('refuses smuggling shapes and malformed requests with 400 and closes only that connection', async () => {
    const { port, seen } = await serve(ok);
    for (const bad of [
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n',
      'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n',
      'BREW / HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET / HTTP/2.0\r\nHost: x\r\n\r\n',
      '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n',
    ]) {
      const r = await raw(port, [Buffer.from(bad, 'latin1')]);
      expect(r.text, JSON.stringify(bad)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nconnection: close\r\n\r\n$/);
      expect(r.closed).toBe(true);
    }
    // Bad chunk framing after a good head: the handler has the request, the connection goes.
    for (const body of ['zz\r\n', '5\r\nhelloXX', `${'1'.repeat(14)}\r\n`, `1;${'e'.repeat(2000)}\r\n`]) {
      const r = await raw(port, [`POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`]);
      expect(r.closed, body).toBe(true);
      expect(r.text).not.toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 200/);
    }
    expect(seen.every((s) => s.url === '/c')).toBe(true);
    expect(statuses((await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'])).text)).toEqual([200]);
  });

  it('reads a chunked HTTP/1.0 request (as node:http did) and closes after its response', async () => {
    const { port } = await serve(async (req, res) => {
      const body = await bodyOf(req);
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const r = await raw(port, [
      'POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n',
    ]);
    expect(statuses(r.text)).toEqual([200]);
    expect(r.text).toMatch(/\r\nconnection: close\r\n[\s\S]*\r\n\r\nzz$/);
    expect(r.closed).toBe(true);
  });

  it('answers 431 to a head over 64 KiB or too many fields', async () => {
    const { port, seen } = await serve(ok);
    const big = await raw(port, [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`]);
    expect(big.text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(big.closed).toBe(true);
    const never = await raw(port, [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}`]);
    expect(never.text).toMatch(/^HTTP\/1\.1 431 /);
    const many = await raw(port, [`GET / HTTP/1.1\r\nHost: x\r\n${'a: b\r\n'.repeat(2001)}\r\n`]);
    expect(many.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(seen).toHaveLength(0);
  });

  it('closes a CONNECT without calling the handler; an Upgrade request is an ordinary request', async () => {
    const { port, seen } = await serve(ok);
    const connect = await raw(port, ['CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n']);
    expect(connect.text).toBe('');
    expect(connect.closed).toBe(true);
    const upgrade = await raw(port, [
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\nUpgrade: websocket\r\n\r\n',
    ]);
    expect(statuses(upgrade.text)).toEqual([200]);
    expect(seen.map((s) => s.headers.upgrade)).toEqual(['websocket']);
  });

  it('cuts a client whose head is not complete within the headers timeout (408), others are served', async () => {
    const { port } = await serve(ok, { headersTimeoutMs: 300 });
    const slow = raw(port, ['GET / HTTP/1.1\r\nHost: x\r\n'], 10_000);
    const fine = await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(statuses(fine.text)).toEqual([200]);
    const r = await slow;
    expect(r.closed).toBe(true);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('closes a kept-alive connection once idle for the keep-alive timeout', async () => {
    const { port, server } = await serve(ok, { keepAliveTimeoutMs: 200, headersTimeoutMs: 400 });
    const r = await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n'], 10_000);
    expect(statuses(r.text)).toEqual([200]);
    expect(r.closed).toBe(true);
    for (let i = 0; i < 250 && server.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.size).toBe(0);
  });

  it('holds a large body to its reader: the stream pauses while the reader is behind', async () => {
    let received = 0;
    const { port } = await serve((req, res) => {
      req.on('data', (c: Buffer) => {
        received += c.length;
        req.pause();
        setTimeout(() => req.resume(), 1);
      });
      req.on('end', () => {
        const text = String(received);
        res.writeHead(200, { 'content-length': String(text.length) });
        res.end(text);
      });
    });
    const size = 4 * 1024 * 1024;
    const r = await raw(
      port,
      [`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`, Buffer.alloc(size, 1)],
      20_000,
    );
    expect(statuses(r.text)).toEqual([200]);
    expect(received).toBe(size);
  });

  it('tells the handler when the client goes away: the request aborts, the response closes unfinished', async () => {
    const events: string[] = [];
    let gotHead!: () => void;
    const headSeen = new Promise<void>((r) => (gotHead = r));
    const { port } = await serve((req, res) => {
      req.on('aborted', () => events.push('aborted'));
      req.on('error', () => events.push('error'));
      res.on('close', () => events.push(`close finished=${res.writableFinished}`));
      gotHead();
    });
    const socket = net.connect(port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    await headSeen;
    socket.destroy();
    for (let i = 0; i < 100 && events.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(events.sort()).toEqual(['aborted', 'close finished=false', 'error']);
  });

  it('while draining, responses close their connections', async () => {
    const { port, server } = await serve(ok);
    server.drain();
    const r = await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n']);
    expect(r.text).toMatch(/\r\nconnection: close\r\n/);
    expect(r.closed).toBe(true);
  });

  it('emits finish then close on the response once sent; a bad header throws before anything is sent', async () => {
    const events: string[] = [];
    const { port } = await serve((req, res) => {
      req.resume();
      expect(() => res.writeHead(200, { 'x-bad': 'a\r\nb' })).toThrow();
      expect(res.headersSent).toBe(false);
      res.on('finish', () => events.push('finish'));
      res.on('close', () => events.push(`close ${res.writableFinished}`));
      res.writeHead(200, { 'content-length': '1' });
      res.end('x');
    });
    const r = await raw(port, ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(statuses(r.text)).toEqual([200]);
    expect(r.text).not.toMatch(/x-bad/);
    expect(events).toEqual(['finish', 'close true']);
  });
});
