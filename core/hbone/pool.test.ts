// The client pool: sharing, limits, idle close, replacement after a server restart, rotation,
// dialing through a caller-made socket, and timeouts.
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import type { Credentials } from '../identity/types.js';
import { HbonePool, createHboneServer } from './index.js';
import type { HboneRequest } from './index.js';
import {
  closed,
  pki,
  readAll,
  stablePort,
  startEcho,
  startForwarder,
  startTcp,
  target,
} from '../../test/support/hbone.js';
import type { Forwarder, Pki, TcpTarget } from '../../test/support/hbone.js';
import { testCredentials } from '../../test/support/pki.js';
import type { Duplex } from 'node:stream';
import { pollUntil } from '../../test/support/wait.js';

async function until(cond: () => boolean, what: string): Promise<void> {
  await pollUntil(cond, { what, timeoutMs: 5000, intervalMs: 10 });
}

async function roundTrip(tunnel: Duplex, text: string): Promise<void> {
  tunnel.end(text);
  expect((await readAll(tunnel)).toString()).toBe(text);
}

describe('hbone pool', () => {
  let p: Pki;
  let fwd: Forwarder;
  let echo: TcpTarget;
  const pools: HbonePool[] = [];
  const newPool = (o: ConstructorParameters<typeof HbonePool>[0] = {}): HbonePool => {
    const x = new HbonePool(o);
    pools.push(x);
    return x;
  };
  const tgt = (): ReturnType<typeof target> => target(fwd.port, echo.port, p.server.identity);

  beforeAll(async () => {
    p = await pki();
    fwd = await startForwarder(() => p.server);
    echo = await startEcho();
  });
  afterEach(() => {
    for (const x of pools.splice(0)) x.destroy();
  });
  afterAll(async () => {
    await fwd.close(true);
    await echo.close();
  });

  it('shares one handshake among concurrent connects and reuses the connection', async () => {
    const pool = newPool();
    const tunnels = await Promise.all(
      Array.from({ length: 20 }, () => pool.connect({ source: p.client, target: tgt() })),
    );
    expect(pool.stats()).toMatchObject({ handshakes: 1, connections: 1, activeStreams: 20, tunnelsOpened: 20 });
    await Promise.all(tunnels.map((t, i) => roundTrip(t, `t${i}`)));
    await roundTrip(await pool.connect({ source: p.client, target: tgt() }), 'again');
    expect(pool.stats().handshakes).toBe(1);
  });

  it('opens another connection past maxStreamsPerConnection', async () => {
    const pool = newPool({ maxStreamsPerConnection: 3 });
    const tunnels = await Promise.all(
      Array.from({ length: 7 }, () => pool.connect({ source: p.client, target: tgt() })),
    );
    expect(pool.stats()).toMatchObject({ handshakes: 3, connections: 3 });
    await Promise.all(tunnels.map((t, i) => roundTrip(t, `s${i}`)));
    // slots freed: new tunnels fit on existing connections
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) =>
        roundTrip(await pool.connect({ source: p.client, target: tgt() }), `r${i}`),
      ),
    );
    expect(pool.stats().handshakes).toBe(3);
  });

  it('keeps separate connections per key (expected identities, netns key)', async () => {
    const pool = newPool();
    let made = 0;
    const via = {
      key: 'pod-a',
      createSocket: () => {
        made++;
        return new net.Socket();
      },
    };
    await roundTrip(await pool.connect({ source: p.client, target: tgt() }), 'a');
    await roundTrip(await pool.connect({ source: p.client, target: tgt(), via }), 'b');
    await roundTrip(await pool.connect({ source: p.client, target: tgt(), via }), 'c');
    await roundTrip(
      await pool.connect({
        source: p.client,
        target: { ...tgt(), expectedIdentities: [p.server.identity, 'spiffe://cluster.local/ns/x/sa/y'] },
      }),
      'd',
    );
    expect(made).toBe(1);
    expect(pool.stats().handshakes).toBe(3);
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const pool = newPool({ idleTimeoutMs: 50 });
    const own = await startForwarder(() => p.server);
    const t = target(own.port, echo.port, p.server.identity);
    await roundTrip(await pool.connect({ source: p.client, target: t }), 'idle');
    expect(own.server.stats().sessions).toBe(1);
    await until(() => pool.stats().connections === 0, 'the idle connection to close');
    await until(() => own.server.stats().sessions === 0, 'the server to see the close');
    await roundTrip(await pool.connect({ source: p.client, target: t }), 'fresh');
    expect(pool.stats().handshakes).toBe(2);
    await own.close(true);
  });

  it('replaces connections after the server restarts (graceful and abrupt)', async () => {
    const pool = newPool();
    const port = await stablePort();
    let server = await startForwarder(() => p.server, { port });
    const t = (): ReturnType<typeof target> => target(port, echo.port, p.server.identity);
    await roundTrip(await pool.connect({ source: p.client, target: t() }), 'before');
    await server.close();
    server = await startForwarder(() => p.server, { port });
    await roundTrip(await pool.connect({ source: p.client, target: t() }), 'after graceful restart');
    expect(pool.stats().handshakes).toBe(2);
    const open = await pool.connect({ source: p.client, target: t() });
    open.on('error', () => undefined);
    await server.close(true);
    await closed(open);
    server = await startForwarder(() => p.server, { port });
    await roundTrip(await pool.connect({ source: p.client, target: t() }), 'after abrupt restart');
    expect(pool.stats()).toMatchObject({ handshakes: 3, tunnelsFailed: 0 });
    await server.close(true);
  });

  it('rotates server and client credentials with no failed tunnel', async () => {
    let serverCreds = p.server;
    const rot = await startForwarder(() => serverCreds);
    const t = (): ReturnType<typeof target> => target(rot.port, echo.port, p.server.identity);
    const pool = newPool();
    let clientCreds = p.client;
    const results: Array<Promise<void>> = [];
    const wave = (n: number): void => {
      for (let i = 0; i < n; i++)
        results.push(
          pool.connect({ source: clientCreds, target: t() }).then((x) => roundTrip(x, `w${results.length}`)),
        );
    };
    wave(10);
    const longLived = await pool.connect({ source: clientCreds, target: t() });
    serverCreds = await testCredentials(p.ca, 'ztunnel', 'agent');
    clientCreds = await testCredentials(p.ca, 'default', 'client', { ttlSeconds: 48 * 3600 });
    wave(10);
    await Promise.all(results);
    await roundTrip(longLived, 'survives rotation');
    // new client credentials → a new connection; the old one drains and closes
    expect(pool.stats().handshakes).toBe(2);
    await until(() => pool.stats().connections === 1, 'the old connection to drain');
    expect(pool.stats().tunnelsFailed).toBe(0);
    // the server presents its new certificate to new connections
    const probe = tls.connect({
      host: '127.0.0.1',
      port: rot.port,
      key: clientCreds.keyPem,
      cert: clientCreds.certChainPem,
      ca: p.ca.rootsPem,
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    const presented = await new Promise<X509Certificate>((resolve, reject) => {
      probe.once('secureConnect', () => resolve(probe.getPeerX509Certificate()!));
      probe.once('error', reject);
    });
    probe.destroy();
    expect(presented.serialNumber).toBe(new X509Certificate(serverCreds.certChainPem).serialNumber);
    await rot.close(true);
  });

  it('drops a connection whose peer stops answering PINGs', async () => {
    const links: Array<[net.Socket, net.Socket]> = [];
    const proxy = await startTcp((inbound) => {
      const out = net.connect(fwd.port, '127.0.0.1');
      out.on('error', () => undefined);
      inbound.pipe(out);
      out.pipe(inbound);
      links.push([inbound, out]);
    });
    const pool = newPool({ pingIntervalMs: 50, pingTimeoutMs: 300 });
    const t = target(proxy.port, echo.port, p.server.identity);
    await roundTrip(await pool.connect({ source: p.client, target: t }), 'before');
    expect(pool.stats().connections).toBe(1);
    // the path goes silent: no FIN, no RST, nothing forwarded
    for (const [a, b] of links) {
      a.unpipe();
      b.unpipe();
      a.pause();
      b.pause();
    }
    await until(() => pool.stats().connections === 0, 'the silent connection to be dropped');
    await roundTrip(await pool.connect({ source: p.client, target: t }), 'after');
    expect(pool.stats()).toMatchObject({ handshakes: 2, tunnelsFailed: 0 });
    await proxy.close();
  });

  it('refuses a target address that is not an IP literal', async () => {
    const err = await newPool()
      .connect({ source: p.client, target: { ...tgt(), address: 'localhost' } })
      .catch((e: unknown) => e);
    expect(isAmbitError(err, 'AMBIT_E_HBONE_CONNECT')).toBe(true);
  });

  it('times out a handshake that never completes and a CONNECT never answered', async () => {
    const silent = await startTcp(() => undefined);
    const pool = newPool();
    const err = await pool
      .connect({ source: p.client, target: target(silent.port, 1, p.server.identity), timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(isAmbitError(err, 'AMBIT_E_TIMEOUT')).toBe(true);
    await silent.close();

    const held: HboneRequest[] = [];
    const mute = createHboneServer({
      credentials: () => p.server,
      trustDomain: 'cluster.local',
      handler: (req) => {
        held.push(req);
      },
    });
    const addr = await mute.listen({ host: '127.0.0.1', port: 0 });
    const err2 = await pool
      .connect({ source: p.client, target: target(addr!.port, 1, p.server.identity), timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(isAmbitError(err2, 'AMBIT_E_TIMEOUT')).toBe(true);
    expect(held).toHaveLength(1);
    await closed(held[0]!.stream); // the client cancelled the stream
    expect(pool.stats().activeStreams).toBe(0);
    await mute.close({ force: true });
  });

  it('refuses new tunnels once closed', async () => {
    const pool = newPool();
    await roundTrip(await pool.connect({ source: p.client, target: tgt() }), 'x');
    await pool.close();
    expect(pool.stats().connections).toBe(0);
    const err = await pool.connect({ source: p.client as Credentials, target: tgt() }).catch((e: unknown) => e);
    expect(isAmbitError(err, 'AMBIT_E_HBONE_POOL')).toBe(true);
  });
});
