// The outbound handler on loopback (no root): a captured connection goes to a Service VIP or a
// meshed pod over real mTLS HBONE, to a server outside the mesh as plain TCP from the pod,
// and is refused (and counted) under REGISTRY_ONLY, without endpoints, or when not redirected.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_IP, exchange, LoopbackMesh, OUTSIDE_IP, SERVER_IP, until, VIP } from './loopback-mesh.js';

describe('outbound handler', () => {
  let m: LoopbackMesh;
  beforeAll(async () => {
    m = await LoopbackMesh.start();
  });
  afterAll(async () => {
    await m.close();
  });

  it('carries a Service VIP to its endpoint over HBONE; the app sees the client pod address', async () => {
    const peers = m.app.peers.length;
    const r = await exchange(await m.connectOutbound(VIP, 80), 'via the VIP');
    expect(r).toEqual({ echoed: 'via the VIP' });
    expect(m.app.peers.slice(peers)).toEqual([CLIENT_IP]);
    // The tunnel was dialled from the client pod's namespace.
    expect(m.net.dials).toContainEqual({ netnsPath: '/loopback/client', ip: '0.0.0.0', port: 0 });
    expect(await until(() => m.active() === 0)).toBe(true);
  });

  it('carries a meshed pod address over HBONE with the client pod identity', async () => {
    const r = await exchange(await m.connectOutbound(SERVER_IP, m.app.port), 'direct');
    expect(r.echoed).toBe('direct');
    const snap = m.tracker.counts();
    expect(snap.refused).toBe(0);
  });

  it('passes a destination outside the mesh through as plain TCP dialled from the pod', async () => {
    const peers = m.outside.peers.length;
    const r = await exchange(await m.connectOutbound(OUTSIDE_IP, m.outside.port), 'plain');
    expect(r.echoed).toBe('plain');
    expect(m.outside.peers.slice(peers)).toEqual([CLIENT_IP]);
    expect(m.net.dials.at(-1)).toEqual({ netnsPath: '/loopback/client', ip: OUTSIDE_IP, port: m.outside.port });
  });

  it('refuses an unknown destination under REGISTRY_ONLY and counts it', async () => {
    m.apply({ mesh: { outboundTrafficPolicy: 'REGISTRY_ONLY' } });
    try {
      const before = m.tracker.refusalCounts()['registry-only'] ?? 0;
      const peers = m.outside.peers.length;
      const r = await exchange(await m.connectOutbound(OUTSIDE_IP, m.outside.port), 'nope');
      expect(r.echoed).toBe('');
      expect(m.outside.peers.length).toBe(peers);
      expect(m.tracker.refusalCounts()['registry-only']).toBe(before + 1);
    } finally {
      m.apply();
    }
  });

  it('refuses a Service without endpoints', async () => {
    m.apply({
      services: [
        {
          name: 'empty',
          namespace: 'shop',
          vips: ['127.0.0.31'],
          ports: [{ port: 80, targetPort: 80, protocol: 'tcp' }],
          endpoints: [],
        },
      ],
    });
    try {
      const r = await exchange(await m.connectOutbound('127.0.0.31', 80), 'nope');
      expect(r.echoed).toBe('');
      expect(m.tracker.refusalCounts()['no-endpoint']).toBeGreaterThan(0);
    } finally {
      m.apply();
    }
  });

  it('resets the client when the destination app refuses the connection', async () => {
    const closed = net.createServer();
    const port = await new Promise<number>((r) =>
      closed.listen(0, SERVER_IP, () => r((closed.address() as net.AddressInfo).port)),
    );
    await new Promise((r) => closed.close(r));
    const r = await exchange(await m.connectOutbound(SERVER_IP, port), 'nobody home');
    expect(r.echoed).toBe('');
    expect(m.tracker.refusalCounts()['upstream-failed']).toBeGreaterThan(0);
    expect(await until(() => m.active() === 0)).toBe(true);
  });

  it('refuses a connection made to the outbound port directly (not redirected)', async () => {
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      void import('./outbound.js').then(({ handleOutbound }) => handleOutbound(m.ctx, m.client, s));
    });
    const port = await new Promise<number>((r) =>
      srv.listen(0, CLIENT_IP, () => r((srv.address() as net.AddressInfo).port)),
    );
    const before = m.tracker.refusalCounts()['not-redirected'] ?? 0;
    const r = await exchange(net.connect({ host: CLIENT_IP, port, allowHalfOpen: true }), 'direct');
    expect(r.echoed).toBe('');
    expect(m.tracker.refusalCounts()['not-redirected']).toBe(before + 1);
    await new Promise((r2) => srv.close(r2));
  });

  it('carries a client with an IPv6 address over HBONE (forwarded-for is [v6]:port)', async () => {
    const { handleOutbound } = await import('./outbound.js');
    const srv = net.createServer({ allowHalfOpen: true }, (s) => handleOutbound(m.ctx, m.client, s));
    const port = await new Promise<number>((r) =>
      srv.listen(0, '::1', () => r((srv.address() as net.AddressInfo).port)),
    );
    m.net.redirect('::1', port, { address: SERVER_IP, port: m.app.port });
    const r = await exchange(net.connect({ host: '::1', port, allowHalfOpen: true }), 'from v6');
    expect(r).toEqual({ echoed: 'from v6' });
    await new Promise((r2) => srv.close(r2));
  });
});
