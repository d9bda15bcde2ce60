// Remote JWKS bounds: https only unless allowed, no loopback/link-local targets (literal or
// resolved), a 1 MiB cap, and one key set per URI reused across config pushes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJwks, forbiddenJwksAddress, JwksCache } from '../../waypoint/filters/jwks.js';
import { readBody } from '../../waypoint/http-handler.js';

describe('JWKS fetch bounds', () => {
  let server: http.Server;
  let base: string;
  let fetches = 0;
  let jwks = '';

  beforeAll(async () => {
    const { publicKey } = await generateKeyPair('ES256');
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
    server = http.createServer((req, res) => {
      fetches++;
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"keys":[],"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`);
      } else if (req.url === '/huge-chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < 40; i++) res.write('x'.repeat(64 * 1024));
        res.end();
      } else if (req.url === '/missing') {
        res.writeHead(404);
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(jwks);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const onLoopback = { allowHttp: true, addressAllowed: () => true };

  it('refuses plain http unless the mesh allows it', async () => {
    await expect(fetchJwks(`${base}/jwks`, { allowHttp: false, addressAllowed: () => true })).rejects.toThrow(
      /only https/,
    );
    await expect(fetchJwks('ftp://example.com/jwks', { allowHttp: true })).rejects.toThrow(/only http and https/);
    await expect(fetchJwks(`${base}/jwks`, onLoopback)).resolves.toMatchObject({ keys: [{ kid: 'k1' }] });
  });

  it('never connects to loopback, link-local or unspecified addresses, literal or resolved', async () => {
    for (const ip of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '169.254.169.254',
      'fe80::1',
      '0.0.0.0',
      '::',
      '::ffff:127.0.0.1',
      '224.0.0.1',
    ]) {
      expect(forbiddenJwksAddress(ip), ip).toBe(true);
    }
    for (const ip of ['10.0.0.1', '192.168.1.1', '8.8.8.8', '2001:db8::1'])
      expect(forbiddenJwksAddress(ip), ip).toBe(false);
    const before = fetches;
    await expect(fetchJwks(`${base}/jwks`, { allowHttp: true })).rejects.toThrow(/loopback/);
    await expect(
      fetchJwks(`https://[::1]:${(server.address() as AddressInfo).port}/jwks`, { allowHttp: true }),
    ).rejects.toThrow(/loopback/);
    await expect(fetchJwks('http://169.254.169.254/latest/meta-data', { allowHttp: true })).rejects.toThrow(
      /link-local/,
    );
    // A name is resolved and every address checked before connecting.
    await expect(
      fetchJwks(`http://localhost:${(server.address() as AddressInfo).port}/jwks`, { allowHttp: true }),
    ).rejects.toThrow(/resolves to/);
    expect(fetches).toBe(before);
  });

  it('caps the response at 1 MiB (declared or streamed) and wants 200 with a keys array', async () => {
    await expect(fetchJwks(`${base}/huge`, onLoopback)).rejects.toThrow(/limit/);
    await expect(fetchJwks(`${base}/huge-chunked`, onLoopback)).rejects.toThrow(/limit/);
    await expect(fetchJwks(`${base}/missing`, onLoopback)).rejects.toThrow(/answered 404/);
  });

  it('keeps one key set per URI across pushes, refetching only when stale or on an unknown kid after the cooldown', async () => {
    let now = 1_000_000;
    let calls = 0;
    const cache = new JwksCache({
      now: () => now,
      fetch: async () => {
        calls++;
        return JSON.parse(jwks) as { keys: [] };
      },
    });
    const { privateKey } = await generateKeyPair('ES256');
    const stranger = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'other' }).sign(privateKey);
    const header = { alg: 'ES256', kid: 'k1' };
    const flat = { payload: '', signature: '' };
    // Two "pushes" build two getters for the same URI: one fetch between them.
    await cache.keysFor('https://idp.example/jwks', false)(header, flat);
    await cache.keysFor('https://idp.example/jwks', false)(header, flat);
    expect(calls).toBe(1);
    // An unknown kid within the cooldown does not refetch; after it, once.
    await expect(
      cache.keysFor('https://idp.example/jwks', false)(
        { alg: 'ES256', kid: 'other' },
        { payload: stranger, signature: '' },
      ),
    ).rejects.toThrow();
    expect(calls).toBe(1);
    now += 31_000;
    await expect(
      cache.keysFor('https://idp.example/jwks', false)(
        { alg: 'ES256', kid: 'other' },
        { payload: stranger, signature: '' },
      ),
    ).rejects.toThrow();
    expect(calls).toBe(2);
    now += 21 * 60_000;
    await cache.keysFor('https://idp.example/jwks', false)(header, flat);
    expect(calls).toBe(3);
    cache.retain([]);
    expect(cache.size).toBe(0);
  });

  it('does not hammer a failing URI: retried after the cooldown', async () => {
    let now = 0;
    let calls = 0;
    const cache = new JwksCache({
      now: () => now,
      fetch: async () => {
        calls++;
        throw new Error('down');
      },
    });
    const get = cache.keysFor('https://idp.example/down', false);
    for (let i = 0; i < 5; i++)
      await expect(get({ alg: 'ES256' }, { payload: '', signature: '' })).rejects.toThrow(/down/);
    expect(calls).toBe(1);
    now += 31_000;
    await expect(get({ alg: 'ES256' }, { payload: '', signature: '' })).rejects.toThrow(/down/);
    expect(calls).toBe(2);
  });
});

describe('request bodies kept for retry and mirror', () => {
  const request = (declared: number, chunks: Buffer[]): Parameters<typeof readBody>[0] =>
    Object.assign(Readable.from(chunks), {
      headers: { 'content-length': String(declared) },
      method: 'POST',
    }) as unknown as Parameters<typeof readBody>[0];

  it('buffers a body within the cap', async () => {
    const body = await readBody(request(5, [Buffer.from('hello')]), 16);
    expect(Buffer.isBuffer(body) && body.toString()).toBe('hello');
  });

  it('streams a body over the cap, even one that declared less, without losing bytes', async () => {
    const body = await readBody(request(8, [Buffer.alloc(10, 1), Buffer.alloc(10, 2), Buffer.alloc(10, 3)]), 16);
    expect(Buffer.isBuffer(body)).toBe(false);
    const out: Buffer[] = [];
    for await (const c of body as Readable) out.push(c as Buffer);
    expect(Buffer.concat(out)).toEqual(Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(10, 2), Buffer.alloc(10, 3)]));
    expect(Buffer.isBuffer(await readBody(request(32, [Buffer.alloc(4)]), 16))).toBe(false);
  });
});
