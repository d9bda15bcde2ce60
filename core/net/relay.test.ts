// The relay between two TCP sockets (the agent's passthrough and app hops, ctl/local's
// forwarders): half-close both ways, resets both ways, a side that ended or closed before the
// relay started, and every relay settling once its sockets close.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relay, splice, type RelayResult } from './relay.js';
import { pollUntil } from '../../test/support/wait.js';

interface Peer {
  socket: net.Socket;
  data: () => string;
  ended: Promise<void>;
  closed: Promise<NodeJS.ErrnoException | undefined>;
}

function watch(socket: net.Socket): Peer {
  let buf = '';
  let err: NodeJS.ErrnoException | undefined;
  socket.on('data', (d: Buffer) => {
    buf += d.toString();
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    err = e;
  });
  return {
    socket,
    data: () => buf,
    ended: new Promise((resolve) => socket.once('end', () => resolve())),
    closed: new Promise((resolve) => socket.once('close', () => resolve(err))),
  };
}

/** A connected loopback TCP pair (client, accepted), both allowHalfOpen. */
function loopbackPair(): Promise<[net.Socket, net.Socket]> {
  return new Promise((resolve) => {
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      srv.close();
      resolve([c, s]);
    });
    let c: net.Socket;
    srv.listen(0, '127.0.0.1', () => {
      c = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    });
  });
}

/** client ⇄ [proxy: relay(accepted, upstream)] ⇄ target, all allowHalfOpen on 127.0.0.1. */
describe('relay between two TCP sockets', () => {
  let target: net.Server;
  let proxy: net.Server;
  let proxyPort = 0;
  /** Accepted target sockets, in order, for the pairs waiting for them. */
  const waiting: Array<(s: net.Socket) => void> = [];
  let lastRelay: Promise<RelayResult> = Promise.resolve({ bytesToTunnel: 0, bytesFromTunnel: 0, reason: '' });
  /** Runs on the proxy's accepted socket before relay starts (default: nothing). */
  let beforeRelay: (s: net.Socket) => Promise<void> = () => Promise.resolve();
  const relays: Promise<RelayResult>[] = [];

  beforeAll(async () => {
    target = net.createServer({ allowHalfOpen: true }, (s) => waiting.shift()?.(s));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const targetPort = (target.address() as net.AddressInfo).port;
    proxy = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      const p = beforeRelay(s).then(
        () =>
          new Promise<RelayResult>((resolve) => {
            const up = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true }, () =>
              resolve(relay(s, up)),
            );
          }),
      );
      lastRelay = p;
      relays.push(p);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyPort = (proxy.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => proxy.close(r));
    await new Promise((r) => target.close(r));
  });

  async function pair(first?: (app: net.Socket) => void): Promise<{ app: Peer; server: Peer }> {
    const serverSide = new Promise<net.Socket>((resolve) => {
      waiting.push(resolve);
    });
    const app = watch(net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true }));
    first?.(app.socket);
    return { app, server: watch(await serverSide) };
  }

  it('half-closes client → target: the target sees FIN and can still answer', async () => {
    const { app, server } = await pair();
    app.socket.end('request');
    await server.ended;
    expect(server.data()).toBe('request');
    server.socket.end('answer after FIN');
    await app.ended;
    expect(app.data()).toBe('answer after FIN');
    await Promise.all([app.closed, server.closed]);
    expect(await lastRelay).toEqual({ bytesToTunnel: 7, bytesFromTunnel: 16, reason: 'done' });
  });

  it('half-closes target → client: the client sees FIN and can still send', async () => {
    const { app, server } = await pair();
    server.socket.end('banner');
    await app.ended;
    app.socket.end('late');
    await server.ended;
    expect(server.data()).toBe('late');
    await Promise.all([app.closed, server.closed]);
    expect((await lastRelay).reason).toBe('done');
  });

  it('turns a reset by the client into a reset at the target', async () => {
    const { app, server } = await pair();
    app.socket.write('x');
    await new Promise<void>((r) => server.socket.once('data', () => r()));
    app.socket.resetAndDestroy();
    expect((await server.closed)?.code).toBe('ECONNRESET');
    expect(server.socket.readableEnded).toBe(false);
    expect((await lastRelay).reason).toBe('socket-reset');
  });

  it('turns a reset by the target into a reset at the client', async () => {
    const { app, server } = await pair();
    server.socket.write('y');
    await new Promise<void>((r) => app.socket.once('data', () => r()));
    server.socket.resetAndDestroy();
    expect((await app.closed)?.code).toBe('ECONNRESET');
    expect(app.socket.readableEnded).toBe(false);
    expect((await lastRelay).reason).toBe('tunnel-reset');
  });

  it('forwards a FIN the client sent before the relay started (e.g. during a handshake)', async () => {
    beforeRelay = (s) =>
      new Promise<void>((resolve) => {
        // Read everything, as a handshake parser would, so 'end' is emitted before relay.
        s.on('readable', () => {
          while (s.read() !== null) {
            /* drain */
          }
        });
        s.once('end', () => {
          s.removeAllListeners('readable');
          resolve();
        });
      });
    try {
      const { app, server } = await pair((a) => a.end('hello'));
      await server.ended;
      server.socket.end('bye');
      await app.ended;
      await Promise.all([app.closed, server.closed]);
      expect((await lastRelay).reason).toBe('done');
    } finally {
      beforeRelay = () => Promise.resolve();
    }
  });

  it('settles every relay when many clients close, half-close or reset', async () => {
    const start = relays.length;
    const clients: Array<{ app: Peer; server: Peer }> = [];
    for (let i = 0; i < 30; i++) clients.push(await pair());
    clients.forEach(({ app, server }, i) => {
      // Like a real server: answer a FIN with a FIN.
      server.socket.once('end', () => {
        if (!server.socket.writableEnded) server.socket.end();
      });
      if (i % 3 === 0) {
        app.socket.end('bye');
        server.socket.end();
      } else if (i % 3 === 1) {
        app.socket.write('x');
        app.socket.resetAndDestroy();
      } else {
        server.socket.end('banner');
        app.socket.end();
      }
    });
    await Promise.all(clients.flatMap(({ app, server }) => [app.closed, server.closed]));
    const results = await Promise.all(relays.slice(start));
    expect(results).toHaveLength(30);
    // Half-closes end cleanly; a reset right after a write may reach the proxy as FIN then RST.
    expect(results.filter((r, i) => i % 3 !== 1 && r.reason !== 'done')).toEqual([]);
  });

  it('counts into a result passed in while the relay runs, and resolves with that object', async () => {
    const counts: RelayResult = { bytesToTunnel: 0, bytesFromTunnel: 0, reason: '' };
    const [a, b] = await loopbackPair();
    const [x, y] = await loopbackPair();
    const done = relay(b, x, counts);
    const yPeer = watch(y);
    const aPeer = watch(a);
    a.write('12345');
    await pollUntil(() => yPeer.data() === '12345', { what: 'the bytes across the relay' });
    y.write('ab');
    await pollUntil(() => aPeer.data() === 'ab', { what: 'the answer across the relay' });
    // Still open: the counts are already there.
    expect([counts.bytesToTunnel, counts.bytesFromTunnel, counts.reason]).toEqual([5, 2, '']);
    a.end();
    y.end();
    expect(await done).toBe(counts);
    expect(counts).toEqual({ bytesToTunnel: 5, bytesFromTunnel: 2, reason: 'done' });
  });

  it('splice reports bytes from the client and to the client', async () => {
    // b and x are accepted/client ends of two loopback pairs: splice(b, x) joins a and y.
    const [a, b] = await loopbackPair();
    const [x, y] = await loopbackPair();
    const done = splice(b, x);
    const yPeer = watch(y);
    const aPeer = watch(a);
    a.end('12345');
    await yPeer.ended;
    y.end('ab');
    await aPeer.ended;
    expect(await done).toEqual({ fromClient: 5, toClient: 2, reason: 'done' });
  });
});

describe('relay between other kinds of streams', () => {
  it('relays two unix sockets (no RST there: a close is a FIN) and settles when both close', async () => {
    const dir = await import('node:fs/promises').then((f) => f.mkdtemp(`${process.env.TMPDIR ?? '/tmp'}/ambit-relay-`));
    const pathA = `${dir}/a.sock`;
    const peers: net.Socket[] = [];
    const srv = net.createServer({ allowHalfOpen: true }, (s) => peers.push(s));
    await new Promise<void>((r) => srv.listen(pathA, r));
    const x = net.connect({ path: pathA, allowHalfOpen: true });
    const y = net.connect({ path: pathA, allowHalfOpen: true });
    await new Promise<void>((r) => {
      const t = setInterval(() => {
        if (peers.length === 2) {
          clearInterval(t);
          r();
        }
      }, 5);
    });
    const done = relay(peers[0]!, peers[1]!);
    const yData = new Promise<string>((r) => y.once('data', (d: Buffer) => r(d.toString())));
    x.write('over unix');
    expect(await yData).toBe('over unix');
    const yClosed = new Promise((r) => y.once('close', r));
    y.on('error', () => undefined);
    x.on('error', () => undefined);
    y.once('end', () => y.end());
    x.destroy();
    await yClosed;
    expect((await done).bytesToTunnel).toBe('over unix'.length);
    await new Promise((r) => srv.close(r));
  });
});

describe('relay between two HTTP/2 streams (a waypoint forwarding one tunnel into another)', () => {
  it('carries bytes and END_STREAM both ways, and maps a reset of one stream onto the other', async () => {
    const http2 = await import('node:http2');
    const waiting: Array<import('node:http2').ServerHttp2Stream> = [];
    const relays: Promise<RelayResult>[] = [];
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      waiting.push(stream);
      if (waiting.length === 2) relays.push(relay(waiting.shift()!, waiting.shift()!));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // Two client sessions: the waypoint's downstream and upstream are different connections.
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const sessions = [http2.connect(url), http2.connect(url)];
    let n = 0;
    const open = (): import('node:http2').ClientHttp2Stream => {
      const s = sessions[n++ % 2]!.request({ ':method': 'POST', ':path': '/' }, { endStream: false });
      s.on('error', () => undefined);
      return s;
    };
    const collect = (s: import('node:http2').ClientHttp2Stream): Promise<string> =>
      new Promise((r) => {
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString();
        });
        s.once('end', () => r(got));
      });
    // Half-close both ways.
    const a = open();
    await new Promise((r) => setTimeout(r, 20));
    const b = open();
    const gotB = collect(b);
    const gotA = collect(a);
    a.end('from a');
    b.end('from b');
    expect(await gotB).toBe('from a');
    expect(await gotA).toBe('from b');
    expect((await relays[0]!).reason).toBe('done');
    // A reset of one stream resets the other.
    const c = open();
    await new Promise((r) => setTimeout(r, 20));
    const d = open();
    c.write('x');
    await new Promise((r) => d.once('data', r));
    const dClosed = new Promise((r) => d.once('close', r));
    c.close(http2.constants.NGHTTP2_CANCEL);
    await dClosed;
    expect(d.rstCode).toBe(http2.constants.NGHTTP2_CONNECT_ERROR);
    expect((await relays[1]!).reason).toMatch(/^socket-reset:/);
    for (const s of sessions) s.close();
    await new Promise((r) => server.close(r));
  });
});
