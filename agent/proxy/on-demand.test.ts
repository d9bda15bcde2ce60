// On-demand discovery on the data path (loopback, real mTLS HBONE): the agent starts without
// the destination or the source it meets; the first connection to a never-seen Service VIP
// waits for the lookup and succeeds, SOCKS5 resolves a hostname it does not hold through the
// lookup, and an inbound connection from a source the agent does not hold gets its workload
// labels from a lookup by the source IP while the bytes already flow.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ID, CLIENT_IP, exchange, LoopbackMesh, SERVER_IP, until, VIP } from './loopback-mesh.js';
import { createSocks5Server } from './socks5.js';
import { socksConnect } from '../../test/support/socks5-client.js';
import type { ProxyContext } from './context.js';

/** What a node-scoped agent holds before any lookup: its own pod (the server), no services. */
function nodeOnly(m: LoopbackMesh): Record<string, unknown> {
  const full = m.snapshot();
  return { workloads: full.workloads.filter((w) => w.ips.includes(SERVER_IP)), services: [] };
}

describe('on-demand lookups on the data path', () => {
  let m: LoopbackMesh;
  const asked: string[] = [];
  /** Resolves a lookup only when the test says so (the controller's answer arriving late). */
  let answer: () => void = () => undefined;

  beforeAll(async () => {
    m = await LoopbackMesh.start();
    const ctx: ProxyContext = {
      ...m.ctx,
      lookup: (address) => {
        asked.push(address);
        return new Promise<void>((resolve) => {
          answer = () => {
            m.apply(); // the whole mesh: what the controller sends for the address and more
            resolve();
          };
        });
      },
    };
    m.ctx = ctx;
  });
  afterAll(async () => {
    await m.close();
  });

  it('the first connection to a never-seen Service VIP waits for the lookup and succeeds', async () => {
    m.apply(nodeOnly(m));
    expect(m.ctx.state().knows(VIP)).toBe(false);
    const sock = await m.connectOutbound(VIP, 80);
    const result = exchange(sock, 'first to a new destination');
    expect(await until(() => asked.includes(VIP))).toBe(true);
    // The connection is held (not refused, not passed through) while the lookup is pending.
    await new Promise((r) => setTimeout(r, 200));
    expect(m.tracker.counts().refused).toBe(0);
    expect(m.app.peers).toEqual([]);
    answer();
    expect(await result).toEqual({ echoed: 'first to a new destination' });
    expect(m.app.peers).toEqual([CLIENT_IP]);
    // Now held: the next connection is routed at once, with no lookup.
    const before = asked.length;
    expect(await exchange(await m.connectOutbound(VIP, 80), 'again')).toEqual({ echoed: 'again' });
    expect(asked.length).toBe(before);
  });

  it('labels an inbound connection from an unknown source through a lookup by its IP, off the data path', async () => {
    m.apply(nodeOnly(m));
    expect(m.ctx.state().workloadByIp(CLIENT_IP)).toBeUndefined();
    const before = asked.length;
    // The client pod reaches the server pod's address directly (the client's agent knows it).
    const { HbonePool } = await import('../../core/hbone/index.js');
    const pool = new HbonePool();
    try {
      const tunnel = await pool.connect({
        source: m.creds.get(CLIENT_ID)!,
        target: {
          address: SERVER_IP,
          port: m.hbonePort,
          authority: `${SERVER_IP}:${m.app.port}`,
          expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/server'],
        },
        via: { key: 'client', createSocket: () => m.net.podSocket('/loopback/client', 4) },
      });
      let got = '';
      tunnel.on('data', (d: Buffer) => (got += d.toString()));
      // Bytes flow before the lookup answers: the connection does not wait for labels.
      tunnel.write('ping');
      expect(await until(() => got === 'ping')).toBe(true);
      expect(asked.slice(before)).toEqual([CLIENT_IP]);
      answer();
      const record = await until(() =>
        m.tracker.active().some((c) => c.direction === 'inbound' && c.src.workload === 'client'),
      );
      expect(record).toBe(true);
      const c = m.tracker.active().find((x) => x.direction === 'inbound')!;
      expect(c.src).toMatchObject({ identity: CLIENT_ID, workload: 'client', namespace: 'shop' });
      tunnel.end();
      await new Promise<void>((r) => tunnel.once('close', () => r()));
    } finally {
      pool.destroy();
    }
  });

  it('SOCKS5 resolves a service hostname the agent does not hold through a lookup, then connects', async () => {
    m.apply(nodeOnly(m));
    const socks = createSocks5Server(m.ctx, { identity: CLIENT_ID, namespace: 'shop' });
    const port = await new Promise<number>((resolve) =>
      socks.listen(0, '127.0.0.1', () => resolve((socks.address() as net.AddressInfo).port)),
    );
    try {
      const host = m.snapshot().services[0]!.hostname;
      const before = asked.length;
      const reply = socksConnect(port, host, 80);
      expect(await until(() => asked.length > before)).toBe(true);
      expect(asked.slice(before)).toEqual([host]);
      answer();
      const { rep, sock } = await reply;
      expect(rep).toBe(0);
      expect(await exchange(sock, 'via socks')).toEqual({ echoed: 'via socks' });
    } finally {
      await new Promise((r) => socks.close(r));
    }
  });
});
