// The inbound HBONE handler on loopback (no root), reached by a real mTLS HBONE client: the
// target must be an app address of this pod, L4 policy decides with the peer's identity, the
// app sees the client's address, and every refusal answers the CONNECT with its status.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool, HboneStatusError } from '../../core/hbone/index.js';
import { CLIENT_ID, CLIENT_IP, LoopbackMesh, SERVER_ID, SERVER_IP, until } from './loopback-mesh.js';

describe('inbound HBONE handler', () => {
  let m: LoopbackMesh;
  const pool = new HbonePool();
  beforeAll(async () => {
    m = await LoopbackMesh.start();
  });
  afterAll(async () => {
    pool.destroy();
    await m.close();
  });

  /** CONNECT from the client pod to `authority`; resolves with the echo, or rejects with the status error. */
  async function connect(authority: string, payload: string): Promise<string> {
    const tunnel = await pool.connect({
      source: m.creds.get(CLIENT_ID)!,
      target: { address: SERVER_IP, port: m.hbonePort, authority, expectedIdentities: [SERVER_ID] },
      via: { key: 'client', createSocket: () => m.net.podSocket('/loopback/client', 4) },
    });
    let got = '';
    tunnel.on('data', (d: Buffer) => {
      got += d.toString();
    });
    tunnel.end(payload);
    await new Promise<void>((r) => tunnel.once('close', () => r()));
    return got;
  }

  /** A tunnel from the client pod to the echo app, left open. */
  function appTunnel() {
    return pool.connect({
      source: m.creds.get(CLIENT_ID)!,
      target: {
        address: SERVER_IP,
        port: m.hbonePort,
        authority: `${SERVER_IP}:${m.app.port}`,
        expectedIdentities: [SERVER_ID],
      },
    });
  }

  async function status(authority: string): Promise<number | undefined> {
    try {
      await connect(authority, 'x');
      return 200;
    } catch (err) {
      return err instanceof HboneStatusError ? err.status : undefined;
    }
  }

  it('connects an allowed peer to the app, which sees the client pod address', async () => {
    const peers = m.app.peers.length;
    expect(await connect(`${SERVER_IP}:${m.app.port}`, 'hello over hbone')).toBe('hello over hbone');
    expect(m.app.peers.slice(peers)).toEqual([CLIENT_IP]);
    expect(m.net.dials.at(-1)).toEqual({
      netnsPath: '/loopback/server',
      ip: SERVER_IP,
      port: m.app.port,
      sourceIp: CLIENT_IP,
    });
    expect(await until(() => m.active() === 0)).toBe(true);
  });

  it('answers 400 to an authority that is not this pod, or that is an agent port', async () => {
    expect(await status(`127.0.0.99:${m.app.port}`)).toBe(400);
    expect(await status(`${SERVER_IP}:${m.hbonePort}`)).toBe(400);
    expect(m.tracker.refusalCounts()['unknown-pod']).toBe(2);
  });

  it('answers 401 when an AuthorizationPolicy denies the peer principal', async () => {
    m.apply({
      authorizationPolicies: [
        {
          name: 'deny-client',
          scope: { namespace: 'shop', level: 'namespace' },
          action: 'DENY',
          rules: [{ from: [{ principals: ['cluster.local/ns/shop/sa/client'] }] }],
        },
      ],
    });
    try {
      const peers = m.app.peers.length;
      expect(await status(`${SERVER_IP}:${m.app.port}`)).toBe(401);
      expect(m.app.peers.length).toBe(peers);
      expect(m.tracker.refusalCounts()['authz-denied']).toBe(1);
    } finally {
      m.apply();
    }
  });

  it('answers 503 when the app refuses the connection', async () => {
    const srv = net.createServer();
    const port = await new Promise<number>((r) =>
      srv.listen(0, SERVER_IP, () => r((srv.address() as net.AddressInfo).port)),
    );
    await new Promise((r) => srv.close(r));
    expect(await status(`${SERVER_IP}:${port}`)).toBe(503);
    expect(m.tracker.refusalCounts()['upstream-failed']).toBe(1);
  });

  it('keeps TCP semantics to the app: a reset of the tunnel resets the app connection', async () => {
    const appSide = new Promise<net.Socket>((resolve) => m.app.server.once('connection', resolve));
    const tunnel = await appTunnel();
    tunnel.write('x');
    const s = await appSide;
    const closed = new Promise<string | undefined>((r) => {
      let code: string | undefined;
      s.on('error', (e: NodeJS.ErrnoException) => {
        code = e.code;
      });
      s.once('close', () => r(code));
    });
    (tunnel as unknown as { close(code: number): void }).close(8);
    // A reset, never a clean FIN (the echo app may see it while reading or while writing).
    expect(['ECONNRESET', 'EPIPE']).toContain(await closed);
    expect(s.readableEnded).toBe(false);
    expect(await until(() => m.active() === 0)).toBe(true);
  });

  it('shows the bytes of an open connection in /debug/connections, not only once it closes', async () => {
    const tunnel = await appTunnel();
    let echoed = '';
    tunnel.on('data', (d: Buffer) => {
      echoed += d.toString();
    });
    const open = () => m.tracker.active().filter((c) => c.direction === 'inbound');
    const bytes = () => open().map((c) => [c.bytesReceived, c.bytesSent]);
    tunnel.write('hello');
    expect(await until(() => echoed === 'hello', 20_000)).toBe(true);
    // The echo went back through the relay: both directions are counted while the tunnel is open.
    expect(await until(() => JSON.stringify(bytes()) === '[[5,5]]', 20_000), JSON.stringify(bytes())).toBe(true);
    tunnel.write('abc');
    expect(await until(() => JSON.stringify(bytes()) === '[[8,8]]', 20_000), JSON.stringify(bytes())).toBe(true);
    const closed = new Promise<void>((r) => tunnel.once('close', () => r()));
    tunnel.end();
    await closed;
    expect(await until(() => m.active() === 0, 20_000)).toBe(true);
  });
});
