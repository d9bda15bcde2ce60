// The inbound plaintext handler on loopback (no root): a client outside the mesh reaches a
// meshed pod; PERMISSIVE lets it through with its own address, STRICT refuses it, L4 policy
// on the source address applies, and a connection that was not redirected is refused.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, LoopbackMesh, OUTSIDE_IP, SERVER_IP, until } from './loopback-mesh.js';
import { handlePlaintextInbound } from './plaintext-inbound.js';

describe('inbound plaintext handler', () => {
  let m: LoopbackMesh;
  beforeAll(async () => {
    m = await LoopbackMesh.start();
  });
  afterAll(async () => {
    await m.close();
  });

  it('PERMISSIVE (default): the app answers and sees the outside client address', async () => {
    const peers = m.app.peers.length;
    expect(await exchange(await m.connectPlaintext(OUTSIDE_IP, m.app.port), 'plaintext ok')).toEqual({
      echoed: 'plaintext ok',
    });
    expect(m.app.peers.slice(peers)).toEqual([OUTSIDE_IP]);
    expect(await until(() => m.active() === 0)).toBe(true);
  });

  it('STRICT refuses the connection and counts it', async () => {
    m.apply({
      peerAuthentications: [{ name: 'default', scope: { namespace: 'shop', level: 'namespace' }, mode: 'STRICT' }],
    });
    try {
      const peers = m.app.peers.length;
      const r = await exchange(await m.connectPlaintext(OUTSIDE_IP, m.app.port), 'refused');
      expect(r.echoed).toBe('');
      expect(m.app.peers.length).toBe(peers);
      expect(m.tracker.refusalCounts()['strict-mtls']).toBe(1);
    } finally {
      m.apply();
    }
  });

  it('a DENY policy on the source address refuses it', async () => {
    m.apply({
      authorizationPolicies: [
        {
          name: 'deny-outside',
          scope: { namespace: 'shop', level: 'namespace' },
          action: 'DENY',
          rules: [{ from: [{ ipBlocks: [`${OUTSIDE_IP}/32`] }] }],
        },
      ],
    });
    try {
      const r = await exchange(await m.connectPlaintext(OUTSIDE_IP, m.app.port), 'denied');
      expect(r.echoed).toBe('');
      expect(m.tracker.refusalCounts()['authz-denied']).toBe(1);
      // Another source is still allowed.
      expect((await exchange(await m.connectPlaintext('127.0.0.41', m.app.port), 'other')).echoed).toBe('other');
    } finally {
      m.apply();
    }
  });

  it('refuses a connection made to the plaintext port directly', async () => {
    const srv = net.createServer({ allowHalfOpen: true }, (s) => handlePlaintextInbound(m.ctx, m.server, s));
    const port = await new Promise<number>((r) =>
      srv.listen(0, SERVER_IP, () => r((srv.address() as net.AddressInfo).port)),
    );
    const r = await exchange(net.connect({ host: SERVER_IP, port, allowHalfOpen: true }), 'direct');
    expect(r.echoed).toBe('');
    expect(m.tracker.refusalCounts()['not-redirected']).toBe(1);
    await new Promise((r2) => srv.close(r2));
  });
});
