// SOCKS5 on loopback: passthrough to a plain server, HBONE to a meshed destination (real mTLS
// with an in-memory CA), REGISTRY_ONLY refusal, and protocol errors.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptTunnel, createHboneServer, HbonePool, relay, type HboneServer } from '../../core/hbone/index.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';
import { createLogger } from '../../core/log.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { parseSnapshotText } from '../config/snapshot-file.js';
import { MeshState } from '../state/mesh-state.js';
import { ConnectionTracker } from './connections.js';
import type { ProxyContext } from './context.js';
import { LoopbackPodNet } from './loopback-pod-net.js';
import { createSocks5Server } from './socks5.js';
import { socksConnect } from '../../test/support/socks5-client.js';

const SOCKS_ID = 'spiffe://cluster.local/ns/ambit-system/sa/ambit-agent';
const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/server';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

function roundTrip(sock: net.Socket, payload: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      got += d;
    });
    sock.on('close', () => resolve(got));
    sock.end(payload);
  });
}

describe('SOCKS5 proxy', () => {
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.pipe(s);
  });
  let echoPort = 0;
  let hbone: HboneServer;
  let hbonePort = 0;
  let socks: net.Server;
  let socksPort = 0;
  let snapshot: MeshSnapshot;
  let state: MeshState;
  const pool = new HbonePool();
  const hboneAuthorities: string[] = [];

  beforeAll(async () => {
    echoPort = await listen(echo);
    const ca = await CertificateAuthority.create();
    const creds = new Map<string, Credentials>();
    for (const id of [SOCKS_ID, SERVER_ID]) creds.set(id, await ca.issue(id));
    hbone = createHboneServer({
      credentials: () => creds.get(SERVER_ID)!,
      trustDomain: 'cluster.local',
      handler: (req) => {
        hboneAuthorities.push(`${req.peerIdentity} ${req.authority}`);
        const upstream = net.connect(
          { port: Number(req.authority.split(':')[1]), host: '127.0.0.1', allowHalfOpen: true },
          () => {
            void relay(upstream, acceptTunnel(req));
          },
        );
      },
    });
    hbonePort = (await hbone.listen({ port: 0, host: '127.0.0.2' }))!.port;
    snapshot = parseSnapshotText(
      JSON.stringify({
        workloads: [
          { name: 'server', namespace: 'shop', serviceAccount: 'server', ips: ['127.0.0.2'], enrolled: true },
        ],
        services: [
          {
            name: 'server',
            namespace: 'shop',
            vips: ['127.0.0.3'],
            ports: [{ port: 80, targetPort: echoPort }],
            endpoints: [{ address: '127.0.0.2' }],
          },
        ],
      }),
      'v1',
      'test',
    );
    state = new MeshState(snapshot, undefined, hbonePort);
    const log = createLogger('socks5-test');
    const ctx: ProxyContext = {
      state: () => state,
      credentials: (id) => Promise.resolve(creds.get(id)!),
      pool,
      tracker: new ConnectionTracker(undefined, log),
      ports: { outbound: 15001, inboundPlaintext: 15006, hbone: hbonePort, admin: 0, metrics: 0, ready: 0, socks5: 0 },
      log,
      net: new LoopbackPodNet(),
    };
    socks = createSocks5Server(ctx, { identity: SOCKS_ID, namespace: 'ambit-system' });
    socksPort = await listen(socks);
  });

  afterAll(async () => {
    await pool.close();
    await hbone.close({ force: true });
    await new Promise((r) => socks.close(r));
    await new Promise((r) => echo.close(r));
  });

  it('passes an unknown destination through as plain TCP (ALLOW_ANY)', async () => {
    const { rep, sock } = await socksConnect(socksPort, '127.0.0.1', echoPort);
    expect(rep).toBe(0);
    expect(await roundTrip(sock, 'plain hello')).toBe('plain hello');
  });

  it('carries a Service (by name) to its meshed endpoint over HBONE with its own identity', async () => {
    const { rep, sock } = await socksConnect(socksPort, 'server.shop.svc.cluster.local', 80);
    expect(rep).toBe(0);
    expect(await roundTrip(sock, 'via hbone')).toBe('via hbone');
    expect(hboneAuthorities).toEqual([`${SOCKS_ID} 127.0.0.2:${echoPort}`]);
  });

  it('refuses unknown destinations under REGISTRY_ONLY (reply 2)', async () => {
    const before = state;
    state = new MeshState(
      { ...snapshot, mesh: { ...snapshot.mesh, outboundTrafficPolicy: 'REGISTRY_ONLY' } },
      undefined,
      hbonePort,
    );
    try {
      const { rep } = await socksConnect(socksPort, '127.0.0.1', echoPort);
      expect(rep).toBe(2);
    } finally {
      state = before;
    }
  });

  it('answers "no acceptable method" to a client without the no-auth method', async () => {
    const reply = await new Promise<Buffer>((resolve) => {
      const s = net.connect(socksPort, '127.0.0.1', () => s.write(Buffer.from([5, 1, 2])));
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      });
    });
    expect([...reply]).toEqual([5, 0xff]);
  });
});
