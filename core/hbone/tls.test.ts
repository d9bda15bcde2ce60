// Mutual TLS on the HBONE path: every way a peer can be wrong is refused, by either side.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { dial } from './client.js';
import { MiB, resolveFlow } from './options.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import type { Credentials } from '../identity/types.js';
import { HbonePool } from './index.js';
import { pki, readAll, startEcho, startForwarder, target } from '../../test/support/hbone.js';
import type { Forwarder, Pki, TcpTarget } from '../../test/support/hbone.js';
import { testCa, testCredentials } from '../../test/support/pki.js';

const HOUR = 3600_000;

describe('hbone mutual TLS', () => {
  let p: Pki;
  let fwd: Forwarder;
  let echo: TcpTarget;
  const pools: HbonePool[] = [];
  const newPool = (): HbonePool => {
    const pool = new HbonePool();
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    p = await pki();
    fwd = await startForwarder(() => p.server);
    echo = await startEcho();
  });
  afterAll(async () => {
    for (const pool of pools) pool.destroy();
    await fwd.close(true);
    await echo.close();
  });

  async function tunnelWorks(source: Credentials, port = fwd.port, expected = p.server.identity): Promise<void> {
    const tunnel = await newPool().connect({ source, target: target(port, echo.port, expected) });
    tunnel.end('ping');
    expect((await readAll(tunnel)).toString()).toBe('ping');
  }

  async function refused(
    source: Credentials,
    port = fwd.port,
    expected = p.server.identity,
  ): Promise<{ code: string; message: string; hint?: string }> {
    const err = await newPool()
      .connect({ source, target: target(port, echo.port, expected), timeoutMs: 5000 })
      .then(
        () => {
          throw new Error('tunnel was established but should have been refused');
        },
        (e: unknown) => e,
      );
    expect(isAmbitError(err)).toBe(true);
    return err as { code: string; message: string; hint?: string };
  }

  it('accepts a valid client of the trust domain', async () => {
    await tunnelWorks(p.client);
  });

  it('refuses a client whose certificate comes from another CA (other trust domain)', async () => {
    const other = await testCa('other.local');
    const stranger = await testCredentials(other, 'default', 'client');
    // the stranger trusts our server's CA, so only the server's check can refuse it
    const before = fwd.server.stats().tlsFailures;
    const err = await refused({ ...stranger, rootsPem: p.ca.rootsPem });
    expect(err.code).toBe('AMBIT_E_TLS_PEER');
    expect(fwd.server.stats().tlsFailures).toBeGreaterThan(before);
  });

  it('refuses a client that chains to a trusted root but is outside the trust domain', async () => {
    const other = await testCa('other.local');
    const bundle = p.ca.rootsPem + other.rootsPem;
    const multi = await startForwarder(() => ({ ...p.server, rootsPem: bundle }));
    try {
      const stranger = await testCredentials(other, 'default', 'client');
      const err = await refused({ ...stranger, rootsPem: bundle }, multi.port);
      expect(err.code).toBe('AMBIT_E_TLS_PEER');
      expect(err.message).toMatch(/refused our identity spiffe:\/\/other\.local/);
      expect(multi.server.stats().refusedPeers).toBeGreaterThan(0);
      expect(multi.requests).toHaveLength(0);
    } finally {
      await multi.close(true);
    }
  });

  it('refuses an expired client certificate', async () => {
    const expired = await testCredentials(p.ca, 'default', 'client', {
      notBefore: new Date(Date.now() - 2 * HOUR),
      notAfter: new Date(Date.now() - HOUR),
    });
    const err = await refused(expired);
    expect(err.code).toBe('AMBIT_E_TLS_PEER');
  });

  it('refuses an expired server certificate', async () => {
    const expired = await testCredentials(p.ca, 'ztunnel', 'agent', {
      notBefore: new Date(Date.now() - 2 * HOUR),
      notAfter: new Date(Date.now() - HOUR),
    });
    const stale = await startForwarder(() => expired);
    try {
      const err = await refused(p.client, stale.port);
      expect(err.code).toBe('AMBIT_E_TLS_PEER');
      expect(err.message).toMatch(/expired/i);
      expect(stale.requests).toHaveLength(0);
    } finally {
      await stale.close(true);
    }
  });

  it('refuses a server presenting another identity than expected (wrong SAN)', async () => {
    const err = await refused(p.client, fwd.port, 'spiffe://cluster.local/ns/prod/sa/payments');
    expect(err.code).toBe('AMBIT_E_TLS_PEER');
    expect(err.message).toContain(p.server.identity);
    expect(err.message).toContain('spiffe://cluster.local/ns/prod/sa/payments');
    // any of several expected identities is fine
    await tunnelWorks(p.client, fwd.port, p.server.identity);
  });

  it('refuses a server whose certificate does not chain to our roots', async () => {
    const other = await testCa('cluster.local');
    const impostor = await testCredentials(other, 'ztunnel', 'agent');
    const fake = await startForwarder(() => ({ ...impostor, rootsPem: p.ca.rootsPem + other.rootsPem }));
    try {
      const err = await refused(p.client, fake.port);
      expect(err.code).toBe('AMBIT_E_TLS_PEER');
      expect(fake.requests).toHaveLength(0);
    } finally {
      await fake.close(true);
    }
  });

  it('speaks TLS 1.3 only, as client and as server', async () => {
    const old = tls.createServer(
      { key: p.server.keyPem, cert: p.server.certChainPem, maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] },
      (s) => s.destroy(),
    );
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    try {
      const err = await refused(p.client, (old.address() as net.AddressInfo).port);
      expect(err.code).toBe('AMBIT_E_TLS_PEER');
    } finally {
      old.close();
    }
    const client12 = tls.connect({
      host: '127.0.0.1',
      port: fwd.port,
      key: p.client.keyPem,
      cert: p.client.certChainPem,
      ca: p.client.rootsPem,
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    const outcome = await new Promise<string>((resolve) => {
      client12.once('secureConnect', () => resolve(`connected ${String(client12.getProtocol())}`));
      client12.once('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? ''}`));
    });
    client12.destroy();
    expect(outcome).toMatch(/^error .*(VERSION|PROTOCOL)/);
  });

  it('advertises the flow-control windows on both peers', async () => {
    const d = await dial({
      source: p.client,
      target: target(fwd.port, echo.port, p.server.identity),
      flow: resolveFlow(),
      timeoutMs: 5000,
    });
    try {
      await Promise.all([
        new Promise<void>((resolve) => d.session.once('remoteSettings', () => resolve())),
        new Promise<void>((resolve) => d.session.once('localSettings', () => resolve())), // our SETTINGS acked
      ]);
      expect(d.peerIdentity).toBe(p.server.identity);
      expect(d.session.remoteSettings).toMatchObject({ initialWindowSize: 4 * MiB, maxFrameSize: MiB });
      expect(d.session.localSettings).toMatchObject({ initialWindowSize: 4 * MiB, maxFrameSize: MiB });
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(d.session.state.effectiveLocalWindowSize).toBe(16 * MiB);
      // the server side, seen from a handler
      const seen = await new Promise<{ remote: http2.Settings; window?: number }>((resolve) => {
        const stream = d.session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
        stream.on('response', () => {
          const req = fwd.requests.at(-1)!;
          resolve({
            remote: req.stream.session!.remoteSettings,
            window: req.stream.session!.state.effectiveLocalWindowSize,
          });
          stream.close();
        });
      });
      expect(seen.remote).toMatchObject({ initialWindowSize: 4 * MiB, maxFrameSize: MiB });
      expect(seen.window).toBe(16 * MiB);
    } finally {
      d.session.destroy();
    }
  });

  it('refuses a client without a certificate', async () => {
    const before = fwd.server.stats().tlsFailures;
    const session = http2.connect(`https://127.0.0.1:${fwd.port}`, {
      ca: p.client.rootsPem,
      checkServerIdentity: () => undefined,
    });
    session.on('error', () => undefined);
    const outcome = await new Promise<string>((resolve) => {
      const req = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
      req.on('response', (h) => resolve(`status ${String(h[':status'])}`));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
      req.on('close', () => resolve('closed'));
    });
    session.destroy();
    expect(outcome).not.toMatch(/^status/);
    expect(fwd.server.stats().tlsFailures).toBeGreaterThan(before);
  });
});
