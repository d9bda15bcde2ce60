// Bad and slow clients against a real waypoint: each gets the right status or a closed
// tunnel, and the requests of everybody else keep being served.
import type { Duplex } from 'node:stream';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterName } from '../../core/model/l7.js';
import { testCa } from '../support/pki.js';
import { answerWithName, APP_PORT, HOST, to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';
import { sleep } from '../support/wait.js';

/** Collects what the waypoint sends back on a raw tunnel until it closes (or `ms` pass). */
function replyOf(t: Duplex, ms = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    t.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    t.once('end', () => done(true));
    t.once('close', () => done(true));
    t.once('error', () => done(true));
  });
}

describe('waypoint robustness', () => {
  let w: WaypointHarness;
  const ok = async () => {
    const r = await w.request({ path: '/ok' });
    expect(r.status).toBe(200);
  };

  beforeAll(async () => {
    const { publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service' } }], 85);
    await w.startWaypoint(
      waypointConfig(
        [{ source: 'coffee-shop/all', matches: [], destinations: [to(undefined)] }],
        [w.cluster(undefined, () => true)],
        {
          requestAuthentications: [
            {
              key: 'coffee-shop/jwt',
              name: 'jwt',
              scope: { namespace: 'coffee-shop', level: 'namespace' },
              jwtRules: [{ issuer: 'https://issuer.example', jwks: JSON.stringify({ keys: [jwk] }) }],
            },
          ],
        },
      ),
      { headersTimeoutMs: 600 },
    );
  });
  afterAll(async () => {
    await w?.close();
  });

  it('answers 401 to malformed JWTs and keeps serving', async () => {
    for (const bad of [
      'not-a-jwt',
      'a.b.c',
      'eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.',
      '....',
      `${'A'.repeat(4000)}.x.y`,
    ]) {
      const r = await w.request({ path: '/ok', headers: { authorization: `Bearer ${bad}` } });
      expect(r.status, bad.slice(0, 20)).toBe(401);
    }
    await ok();
  });

  it('answers 431 to huge headers and closes only that connection', async () => {
    const t = await w.rawTunnel();
    const reply = replyOf(t);
    t.write(`GET /ok HTTP/1.1\r\nHost: customer-service:${APP_PORT}\r\nX-Big: ${'a'.repeat(80 * 1024)}\r\n\r\n`);
    await ok();
    const r = await reply;
    expect(r.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(r.closed).toBe(true);
    await ok();
  });

  it('over HTTP/2 refuses only the stream with huge headers; the session keeps serving', async () => {
    const big = w.request({ h2: true, path: '/ok', headers: { 'x-big': 'a'.repeat(100 * 1024) } }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    const other = w.request({ h2: true, path: '/ok' }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    expect(await big).toMatch(/REFUSED_STREAM|431/);
    expect(await other).toBe(200);
    expect((await w.request({ h2: true, path: '/ok' })).status).toBe(200);
  });

  it('answers 400 to invalid HTTP and closes the connection; others are unaffected', async () => {
    for (const garbage of [
      `GET /ok HTTP/1.1\r\nHost: customer-service:${APP_PORT}\r\nContent-Length: abc\r\n\r\n`,
      'GET /ok HTTP/1.1\r\nBad Header Line\r\n\r\n',
      '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n',
    ]) {
      const t = await w.rawTunnel();
      const reply = replyOf(t);
      t.write(Buffer.from(garbage, 'latin1'));
      const r = await reply;
      expect(r.text).toMatch(/^HTTP\/1\.1 400 /);
      expect(r.closed).toBe(true);
      await ok();
    }
    expect(w.pods[0]!.seen.some((s) => s.headers['content-length'] === 'abc')).toBe(false);
  });

  it('cuts a slowloris client after headersTimeout while serving others', async () => {
    const t = await w.rawTunnel();
    const reply = replyOf(t, 8000);
    t.write(`GET /ok HTTP/1.1\r\nHost: customer-service:${APP_PORT}\r\n`);
    let trickling = true;
    const trickle = (async () => {
      for (let i = 0; trickling && i < 80 && !t.destroyed; i++) {
        t.write(`X-Slow-${i}: z\r\n`);
        await sleep(100);
      }
    })();
    for (let i = 0; i < 3; i++) {
      await ok();
      await sleep(100);
    }
    const r = await reply;
    trickling = false;
    await trickle;
    expect(r.closed).toBe(true);
    expect(r.text === '' || /^HTTP\/1\.1 408 /.test(r.text)).toBe(true);
    expect(w.pods[0]!.seen.some((s) => s.headers['x-slow-0'] !== undefined)).toBe(false);
    await ok();
  });

  it('a client resetting mid-request leaves no upstream request behind', async () => {
    const pod = w.pods[0]!;
    const cluster = () => w.runtime.clusters.get(clusterName(HOST, APP_PORT))!;
    const held: Array<() => void> = [];
    pod.behaviour = (_req, res) => {
      held.push(() => res.end('late'));
    };
    const gone = new AbortController();
    const pending = w.request({ path: '/hang', signal: gone.signal }).catch((e: Error) => e);
    for (let i = 0; i < 50 && held.length === 0; i++) await sleep(20);
    expect(cluster().active).toBe(1);
    gone.abort();
    expect(await pending).toBeInstanceOf(Error);
    // Streaming answer: head and part of the body sent, then the client goes away.
    pod.behaviour = (_req, res) => {
      res.writeHead(200);
      res.write('partial');
      held.push(() => res.end());
    };
    const streaming = new AbortController();
    const partial = w.request({ path: '/stream', signal: streaming.signal }).catch((e: Error) => e);
    for (let i = 0; i < 50 && held.length < 2; i++) await sleep(20);
    await sleep(50);
    streaming.abort();
    await partial;
    for (let i = 0; i < 100 && cluster().active > 0; i++) await sleep(20);
    expect(cluster().active).toBe(0);
    expect(
      cluster()
        .snapshot()
        .every((e) => e.active === 0),
    ).toBe(true);
    pod.behaviour = answerWithName;
    for (const release of held) release();
    await ok();
  });
});
