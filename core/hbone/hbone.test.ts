// Client and server basics on loopback: a tunnel carries data, CONNECT headers arrive as sent,
// non-CONNECT gets 400, HTTP/1 and plaintext connections are closed, statuses become errors.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import { HbonePool, HboneStatusError, acceptTunnel, rejectTunnel, createHboneServer } from './index.js';
import { closed, pki, readAll, startEcho, startForwarder, target } from '../../test/support/hbone.js';
import type { Forwarder, Pki, TcpTarget } from '../../test/support/hbone.js';
import { freePort } from '../../test/support/net.js';

describe('hbone client and server', () => {
  let p: Pki;
  let fwd: Forwarder;
  let echo: TcpTarget;
  let pool: HbonePool;

  beforeAll(async () => {
    p = await pki();
    fwd = await startForwarder(() => p.server);
    echo = await startEcho();
    pool = new HbonePool();
  });
  afterAll(async () => {
    pool.destroy();
    await fwd.close(true);
    await echo.close();
  });

  it('carries data both ways and sends authority, forwarded and traceparent', async () => {
    const tunnel = await pool.connect({
      source: p.client,
      target: target(fwd.port, echo.port, p.server.identity),
      forwardedFor: '10.1.2.3:4567',
    });
    tunnel.end('hello over hbone');
    expect((await readAll(tunnel)).toString()).toBe('hello over hbone');
    const req = fwd.requests.at(-1)!;
    expect(req.authority).toBe(`127.0.0.1:${echo.port}`);
    expect(req.peerIdentity).toBe(p.client.identity);
    expect(req.headers['forwarded']).toBe('for="10.1.2.3:4567"');
    expect(req.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(req.remoteAddress).toBe('127.0.0.1');
  });

  it('passes a given traceparent through', async () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const tunnel = await pool.connect({
      source: p.client,
      target: target(fwd.port, echo.port, p.server.identity),
      traceparent: tp,
    });
    tunnel.end();
    await readAll(tunnel);
    expect(fwd.requests.at(-1)!.headers['traceparent']).toBe(tp);
  });

  it('rejects with AMBIT_E_HBONE_STATUS carrying the status', async () => {
    const refusing = createHboneServer({
      credentials: () => p.server,
      trustDomain: 'cluster.local',
      handler: (req) => rejectTunnel(req, 401, 'denied'),
    });
    const addr = await refusing.listen({ host: '127.0.0.1', port: 0 });
    try {
      const err = await pool
        .connect({ source: p.client, target: target(addr!.port, 9, p.server.identity) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HboneStatusError);
      expect((err as HboneStatusError).status).toBe(401);
      expect((err as HboneStatusError).code).toBe('AMBIT_E_HBONE_STATUS');
      expect((err as HboneStatusError).hint).toMatch(/AuthorizationPolicy/);
      // a closed upstream port: the forwarder answers 503
      const closedPort = await freePort();
      const err503 = await pool
        .connect({ source: p.client, target: target(fwd.port, closedPort, p.server.identity) })
        .catch((e: unknown) => e);
      expect((err503 as HboneStatusError).status).toBe(503);
    } finally {
      await refusing.close({ force: true });
    }
  });

  it('answers 400 to a non-CONNECT request', async () => {
    const session = http2.connect(`https://127.0.0.1:${fwd.port}`, {
      key: p.client.keyPem,
      cert: p.client.certChainPem,
      ca: p.client.rootsPem,
      checkServerIdentity: () => undefined,
    });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':method': 'GET', ':path': '/' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(400);
    } finally {
      session.destroy();
    }
  });

  it('answers 400 to a CONNECT whose authority is not ip:port', async () => {
    const session = http2.connect(`https://127.0.0.1:${fwd.port}`, {
      key: p.client.keyPem,
      cert: p.client.certChainPem,
      ca: p.client.rootsPem,
      checkServerIdentity: () => undefined,
    });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':method': 'CONNECT', ':authority': 'example.com:80' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
      });
      expect(status).toBe(400);
    } finally {
      session.destroy();
    }
  });

  it('closes HTTP/1 over TLS and plaintext connections', async () => {
    const h1 = tls.connect({
      host: '127.0.0.1',
      port: fwd.port,
      key: p.client.keyPem,
      cert: p.client.certChainPem,
      ca: p.client.rootsPem,
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity: () => undefined,
    });
    h1.on('error', () => undefined);
    h1.on('secureConnect', () => h1.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const h1Data: Buffer[] = [];
    h1.on('data', (d: Buffer) => h1Data.push(d));
    await closed(h1);
    expect(Buffer.concat(h1Data).toString()).not.toMatch(/HTTP\/1\.1/);

    const plain = net.connect(fwd.port, '127.0.0.1');
    plain.on('error', () => undefined);
    plain.write('CONNECT 127.0.0.1:80 HTTP/1.1\r\n\r\n');
    const plainData: Buffer[] = [];
    plain.on('data', (d: Buffer) => plainData.push(d));
    await closed(plain);
    expect(Buffer.concat(plainData).toString()).not.toMatch(/HTTP/);
  });

  it('serves sockets accepted elsewhere (handleSocket)', async () => {
    const hbone = createHboneServer({
      credentials: () => p.server,
      trustDomain: 'cluster.local',
      handler: (req) => {
        const tunnel = acceptTunnel(req);
        tunnel.end(`hello ${req.peerIdentity}`);
        tunnel.resume();
      },
    });
    const outer = net.createServer((s) => hbone.handleSocket(s));
    await new Promise<void>((resolve) => outer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (outer.address() as net.AddressInfo).port;
      const tunnel = await pool.connect({ source: p.client, target: target(port, 80, p.server.identity) });
      tunnel.end();
      expect((await readAll(tunnel)).toString()).toBe(`hello ${p.client.identity}`);
      expect(hbone.stats().streamsTotal).toBe(1);
    } finally {
      await hbone.close({ force: true });
      await new Promise<void>((resolve) => outer.close(() => resolve()));
    }
  });

  it('rejects a malformed authority before dialing', async () => {
    const err = await pool
      .connect({ source: p.client, target: { ...target(fwd.port, 1, p.server.identity), authority: 'example.com:80' } })
      .catch((e: unknown) => e);
    expect(isAmbitError(err, 'AMBIT_E_HBONE_CONNECT')).toBe(true);
  });

  it('maps a refused TCP dial to AMBIT_E_HBONE_CONNECT with a hint', async () => {
    const port = await freePort();
    const err = await pool
      .connect({ source: p.client, target: target(port, 1, p.server.identity) })
      .catch((e: unknown) => e);
    expect(isAmbitError(err, 'AMBIT_E_HBONE_CONNECT')).toBe(true);
    expect((err as { hint?: string }).hint).toMatch(/15008/);
  });
});
