// Resource bounds of the HBONE server against a hostile peer, with real TLS on loopback:
// streams per connection, the absolute handshake deadline, idle connections, connections per
// peer identity. A raw HTTP/2 client (frames written by hand) plays the peer that ignores the
// advertised limits.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { ServerHttp2Stream } from 'node:http2';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Credentials } from '../identity/types.js';
import { acceptTunnel, createHboneServer } from './index.js';
import type { HboneServer, HboneServerOptions } from './index.js';
import { pki, closed } from '../../test/support/hbone.js';
import type { Pki } from '../../test/support/hbone.js';
import { testCredentials } from '../../test/support/pki.js';
import { pollUntil } from '../../test/support/wait.js';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literals without indexing, names from the static table (1 :authority, 2 :method). */
function connectHeadersBlock(authority: string): Buffer {
  const lit = (index: number, value: string): Buffer =>
    Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value)]);
  return Buffer.concat([lit(2, 'CONNECT'), lit(1, authority)]);
}

interface RawPeer {
  socket: tls.TLSSocket;
  /** Stream ids answered with HEADERS. */
  answered: Set<number>;
  /** Stream id → RST_STREAM error code. */
  reset: Map<number, number>;
  goaway?: number;
  settingsSeen: Promise<void>;
  openStreams(first: number, count: number): void;
}

/** A TLS + HTTP/2 peer that writes frames itself; `ackSettings` false never acknowledges the server's SETTINGS. */
async function rawPeer(port: number, creds: Credentials, ackSettings: boolean): Promise<RawPeer> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    key: creds.keyPem,
    cert: creds.certChainPem,
    ca: creds.rootsPem,
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  let onSettings!: () => void;
  const peer: RawPeer = {
    socket,
    answered: new Set(),
    reset: new Map(),
    settingsSeen: new Promise<void>((resolve) => {
      onSettings = resolve;
    }),
    openStreams(first, count) {
      const frames: Buffer[] = [];
      for (let i = 0; i < count; i++) frames.push(frame(1, 0x4, first + 2 * i, connectHeadersBlock('127.0.0.1:9')));
      socket.write(Buffer.concat(frames));
    },
  };
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3]!;
      const flags = buf[4]!;
      const id = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      if (type === 1) peer.answered.add(id);
      else if (type === 3) peer.reset.set(id, payload.readUInt32BE(0));
      else if (type === 7) peer.goaway = payload.readUInt32BE(4);
      else if (type === 4 && !(flags & 0x1)) {
        if (ackSettings) socket.write(frame(4, 0x1, 0));
        onSettings();
      }
    }
  });
  socket.write(Buffer.concat([PREFACE, frame(4, 0, 0)]));
  return peer;
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  await pollUntil(cond, { timeoutMs, intervalMs: 10 });
}

describe('hbone server bounds', () => {
  let p: Pki;
  let other_: Credentials;
  const servers: HboneServer[] = [];
  const held: ServerHttp2Stream[] = [];

  beforeAll(async () => {
    p = await pki();
    other_ = await testCredentials(p.ca, 'other', 'caller');
  });
  afterEach(async () => {
    held.length = 0;
    await Promise.all(servers.splice(0).map((s) => s.close({ force: true })));
  });

  /** A server that accepts every CONNECT and keeps the tunnel open. */
  async function start(opts: Partial<HboneServerOptions> = {}): Promise<{ server: HboneServer; port: number }> {
    const server = createHboneServer({
      credentials: () => p.server,
      trustDomain: 'cluster.local',
      handler: (req) => {
        acceptTunnel(req);
        held.push(req.stream);
      },
      ...opts,
    });
    servers.push(server);
    const addr = await server.listen({ host: '127.0.0.1', port: 0 });
    return { server, port: addr!.port };
  }

  function client(port: number, creds: Credentials): http2.ClientHttp2Session {
    const s = http2.connect(`https://127.0.0.1:${port}`, {
      key: creds.keyPem,
      cert: creds.certChainPem,
      ca: creds.rootsPem,
      checkServerIdentity: () => undefined,
    });
    s.on('error', () => undefined);
    return s;
  }

  function connectStatus(session: http2.ClientHttp2Session): Promise<number> {
    return new Promise((resolve) => {
      const req = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', () => resolve(-1));
      req.on('close', () => resolve(-1));
    });
  }

  it('serves 100 concurrent streams on a connection and refuses the 101st', async () => {
    const { server, port } = await start();
    const peer = await rawPeer(port, p.client, false);
    peer.openStreams(1, 101);
    await until(() => peer.answered.size + peer.reset.size >= 101);
    expect(peer.answered.size).toBe(100);
    expect([...peer.answered].every((id) => id <= 199)).toBe(true);
    expect(peer.reset.get(201)).toBe(NGHTTP2_REFUSED_STREAM);
    expect(server.stats().activeStreams).toBe(100);
    peer.socket.destroy();
  });

  it('advertises the limit: a well-behaved client queues streams past 100 instead of opening them', async () => {
    const { server, port } = await start();
    const session = client(port, p.client);
    const statuses = Array.from({ length: 130 }, () => connectStatus(session));
    await until(() => held.length === 100);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stats().activeStreams).toBe(100);
    expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    for (const s of held.splice(0, 30)) s.close();
    expect((await Promise.all(statuses)).filter((s) => s === 200)).toHaveLength(130);
    session.destroy();
  });

  it('a peer that acknowledged the limit and exceeds it loses that connection; others keep working', async () => {
    const { port } = await start();
    const peer = await rawPeer(port, p.client, true);
    await peer.settingsSeen;
    await new Promise((r) => setTimeout(r, 50));
    peer.openStreams(1, 150);
    await closed(peer.socket);
    expect(peer.answered.size).toBeLessThanOrEqual(100);
    expect(peer.answered.has(201)).toBe(false);
    const session = client(port, p.client);
    expect(await connectStatus(session)).toBe(200);
    session.destroy();
  });

  it('10,000 streams opened at once on one connection: never more than 100 served, the peer cut off, others unaffected', async () => {
    const { server, port } = await start();
    const peer = await rawPeer(port, p.client, false);
    peer.openStreams(1, 10_000);
    await until(() => peer.answered.size + peer.reset.size >= 10_000 || peer.socket.destroyed, 20_000);
    // Node closes a session that makes it refuse more than 100 streams (maxSessionRejectedStreams).
    expect(peer.answered.size).toBeLessThanOrEqual(100);
    expect([...peer.reset.values()].every((code) => code === NGHTTP2_REFUSED_STREAM)).toBe(true);
    expect(server.stats().activeStreams).toBeLessThanOrEqual(100);
    const other = client(port, other_);
    expect(await connectStatus(other)).toBe(200);
    other.destroy();
    peer.socket.destroy();
  });

  it('drops a silent TCP client after the handshake deadline', async () => {
    const { server, port } = await start({ handshakeTimeoutMs: 300 });
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined);
    await closed(sock);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    expect(server.stats().handshakeTimeouts).toBeGreaterThanOrEqual(1);
  });

  it('the deadline is absolute: a client dripping a byte every 100 ms is dropped too', async () => {
    const { server, port } = await start({ handshakeTimeoutMs: 500 });
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined);
    // The start of a TLS record header, one byte at a time (Node's own timer only sees inactivity).
    const drip = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const t0 = Date.now();
    const timer = setInterval(() => {
      const b = drip.shift();
      if (b !== undefined && !sock.destroyed) sock.write(Buffer.from([b]));
    }, 100);
    await closed(sock);
    clearInterval(timer);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(server.stats().handshakeTimeouts).toBeGreaterThanOrEqual(1);
  });

  it('closes a connection left without streams for the idle timeout, not one with a stream open', async () => {
    const { server, port } = await start({ idleTimeoutMs: 300 });
    const session = client(port, p.client);
    expect(await connectStatus(session)).toBe(200);
    await new Promise((r) => setTimeout(r, 700));
    expect(session.closed || session.destroyed).toBe(false);
    const t0 = Date.now();
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    held.splice(0).forEach((s) => s.close());
    await goaway;
    await closed(session);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(server.stats().idleClosed).toBe(1);
    await until(() => server.stats().sessions === 0);
  });

  it('caps connections per peer identity; other identities are unaffected and a freed slot is reusable', async () => {
    const { server, port } = await start({ maxConnectionsPerPeer: 2 });
    const a = client(port, p.client);
    const b = client(port, p.client);
    expect(await connectStatus(a)).toBe(200);
    expect(await connectStatus(b)).toBe(200);
    const c = client(port, p.client);
    const goaway = new Promise<number>((resolve) => c.once('goaway', (code: number) => resolve(code)));
    expect(await connectStatus(c)).toBe(-1);
    expect(await goaway).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    expect(server.stats().refusedPeerCap).toBe(1);
    const d = client(port, other_);
    expect(await connectStatus(d)).toBe(200);
    a.destroy();
    await until(() => server.stats().sessions === 2);
    const e = client(port, p.client);
    expect(await connectStatus(e)).toBe(200);
    for (const s of [b, c, d, e]) s.destroy();
  });
});
