// TCP semantics through the whole chain app → source relay → HBONE → destination relay →
// target: half-close in each direction, and resets in each direction.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from './index.js';
import { closed, pki, startForwarder, startSourceAgent, startTcp, target } from '../../test/support/hbone.js';
import type { Forwarder, Pki, SourceAgent, TcpTarget } from '../../test/support/hbone.js';

interface Peer {
  socket: net.Socket;
  data: () => string;
  ended: Promise<void>;
  error: Promise<NodeJS.ErrnoException | undefined>;
}

function watch(socket: net.Socket): Peer {
  let buf = '';
  socket.on('data', (d: Buffer) => {
    buf += d.toString();
  });
  return {
    socket,
    data: () => buf,
    ended: new Promise((resolve) => socket.once('end', () => resolve())),
    error: new Promise((resolve) => {
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e));
      socket.once('close', () => resolve(undefined));
    }),
  };
}

describe('relay over hbone', () => {
  let p: Pki;
  let fwd: Forwarder;
  let pool: HbonePool;
  let tgt: TcpTarget;
  let agent: SourceAgent;
  let accepted: (s: net.Socket) => void = () => undefined;

  beforeAll(async () => {
    p = await pki();
    fwd = await startForwarder(() => p.server);
    pool = new HbonePool();
    tgt = await startTcp((s) => accepted(s));
    agent = await startSourceAgent(pool, p.client, target(fwd.port, tgt.port, p.server.identity));
  });
  afterAll(async () => {
    pool.destroy();
    await agent.close();
    await fwd.close(true);
    await tgt.close();
  });

  /** Connect an app to the source agent; resolve with both ends once the target accepted. */
  async function pair(): Promise<{ app: Peer; server: Peer }> {
    const serverSide = new Promise<net.Socket>((resolve) => {
      accepted = resolve;
    });
    const app = net.connect({ port: agent.port, host: '127.0.0.1', allowHalfOpen: true });
    const a = watch(app);
    return { app: a, server: watch(await serverSide) };
  }

  it('half-closes app → target: the target sees FIN and can still answer', async () => {
    const { app, server } = await pair();
    app.socket.end('request');
    await server.ended;
    expect(server.data()).toBe('request');
    expect(app.socket.readableEnded).toBe(false);
    server.socket.end('response after FIN');
    await app.ended;
    expect(app.data()).toBe('response after FIN');
    await Promise.all([closed(app.socket), closed(server.socket)]);
    const r = await fwd.relays.at(-1)!;
    expect(r).toMatchObject({
      reason: 'done',
      bytesToTunnel: 'response after FIN'.length,
      bytesFromTunnel: 'request'.length,
    });
    const s = await agent.relays.at(-1)!;
    expect(s).toMatchObject({
      reason: 'done',
      bytesToTunnel: 'request'.length,
      bytesFromTunnel: 'response after FIN'.length,
    });
  });

  it('half-closes target → app: the app sees FIN and can still send', async () => {
    const { app, server } = await pair();
    server.socket.end('banner then FIN');
    await app.ended;
    expect(app.data()).toBe('banner then FIN');
    expect(server.socket.readableEnded).toBe(false);
    app.socket.end('late data');
    await server.ended;
    expect(server.data()).toBe('late data');
    await Promise.all([closed(app.socket), closed(server.socket)]);
  });

  it('turns a reset by the app into a reset at the target', async () => {
    const { app, server } = await pair();
    app.socket.write('x');
    await new Promise<void>((resolve) => server.socket.once('data', () => resolve()));
    app.socket.resetAndDestroy();
    const err = await server.error;
    expect(err?.code).toBe('ECONNRESET');
    expect(server.socket.readableEnded).toBe(false);
    expect((await agent.relays.at(-1)!).reason).toBe('socket-reset');
    expect((await fwd.relays.at(-1)!).reason).toMatch(/^tunnel-reset:/);
  });

  it('turns a reset by the target into a reset at the app', async () => {
    const { app, server } = await pair();
    server.socket.write('y');
    await new Promise<void>((resolve) => app.socket.once('data', () => resolve()));
    server.socket.resetAndDestroy();
    const err = await app.error;
    expect(err?.code).toBe('ECONNRESET');
    expect(app.socket.readableEnded).toBe(false);
    expect((await fwd.relays.at(-1)!).reason).toBe('socket-reset');
    expect((await agent.relays.at(-1)!).reason).toMatch(/^tunnel-reset:/);
  });
});
