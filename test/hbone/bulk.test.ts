// Heavy HBONE traffic on loopback through the full chain app → source relay → HBONE →
// destination relay → target: checksummed bulk data both ways at once, 200 concurrent
// streams on one connection, and bounded buffering when the target stops reading.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from '../../core/hbone/index.js';
import { pki, readAll, startEcho, startForwarder, startSourceAgent, startTcp, target } from '../support/hbone.js';
import type { Forwarder, Pki, SourceAgent, TcpTarget } from '../support/hbone.js';
import { receiveBytes, sendBytes } from './traffic.js';

const MiB = 1024 * 1024;
/** Bytes each way of the bulk test; 512 MiB each way = 1 GiB through the tunnel. */
const BULK_EACH_WAY = Number(process.env.AMBIT_HBONE_BULK_MIB ?? 512) * MiB;

describe('hbone bulk traffic', () => {
  let p: Pki;
  let fwd: Forwarder;
  const closers: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    p = await pki();
    fwd = await startForwarder(() => p.server);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    await fwd.close(true);
  });

  async function chain(
    onTarget: (s: net.Socket) => void,
  ): Promise<{ agent: SourceAgent; tgt: TcpTarget; pool: HbonePool }> {
    const pool = new HbonePool();
    const tgt = await startTcp(onTarget);
    const agent = await startSourceAgent(pool, p.client, target(fwd.port, tgt.port, p.server.identity));
    closers.push(
      () => tgt.close(),
      () => agent.close(),
      () => pool.destroy(),
    );
    return { agent, tgt, pool };
  }

  it(`moves ${BULK_EACH_WAY / MiB} MiB each way at once with matching sha256`, async () => {
    let targetSide!: Promise<[string, { bytes: number; sha256: string }]>;
    const accepted = new Promise<void>((resolve) => {
      void chain((s) => {
        targetSide = Promise.all([sendBytes(s, BULK_EACH_WAY), receiveBytes(s)]);
        resolve();
      }).then(({ agent }) => {
        const app = net.connect({ port: agent.port, host: '127.0.0.1', allowHalfOpen: true });
        appSide = Promise.all([sendBytes(app, BULK_EACH_WAY), receiveBytes(app)]);
      });
    });
    let appSide!: Promise<[string, { bytes: number; sha256: string }]>;
    await accepted;
    const [[appSent, appGot], [targetSent, targetGot]] = await Promise.all([appSide, targetSide]);
    expect(targetGot).toEqual({ bytes: BULK_EACH_WAY, sha256: appSent });
    expect(appGot).toEqual({ bytes: BULK_EACH_WAY, sha256: targetSent });
  }, 300_000);

  it('carries 200 concurrent streams on one connection', async () => {
    const echo = await startEcho();
    closers.push(() => echo.close());
    // The server's default is 100 streams per connection (as ztunnel): this one allows 200.
    const wide = await startForwarder(() => p.server, { maxConcurrentStreams: 200 });
    closers.push(() => wide.close(true));
    const pool = new HbonePool({ maxStreamsPerConnection: 200 });
    closers.push(() => pool.destroy());
    const tunnels = await Promise.all(
      Array.from({ length: 200 }, () =>
        pool.connect({ source: p.client, target: target(wide.port, echo.port, p.server.identity) }),
      ),
    );
    expect(pool.stats()).toMatchObject({ handshakes: 1, connections: 1, activeStreams: 200 });
    expect(wide.server.stats().streamsTotal).toBe(200);
    const payloads = tunnels.map(() => randomBytes(64 * 1024));
    const echoed = await Promise.all(
      tunnels.map((t, i) => {
        t.end(payloads[i]);
        return readAll(t);
      }),
    );
    echoed.forEach((b, i) => expect(b.equals(payloads[i]!)).toBe(true));
    // with the default limit of 100, the same load takes two connections
    const pool100 = new HbonePool();
    closers.push(() => pool100.destroy());
    const more = await Promise.all(
      Array.from({ length: 200 }, () =>
        pool100.connect({ source: p.client, target: target(fwd.port, echo.port, p.server.identity) }),
      ),
    );
    expect(pool100.stats()).toMatchObject({ handshakes: 2, connections: 2 });
    await Promise.all(
      more.map((t) => {
        t.end('z');
        return readAll(t);
      }),
    );
  });

  it('bounds buffering when the target stops reading, then delivers everything', async () => {
    let stalled!: net.Socket;
    const accepted = new Promise<void>((resolve) => {
      void chain((s) => {
        s.pause();
        stalled = s;
        resolve();
      }).then(({ agent }) => {
        app = net.connect({ port: agent.port, host: '127.0.0.1', allowHalfOpen: true });
      });
    });
    let app!: net.Socket;
    await accepted;
    // write until the chain stops taking data: no 'drain' for a while
    const chunk = randomBytes(256 * 1024);
    let written = 0;
    for (;;) {
      while (app.write(chunk)) written += chunk.length;
      written += chunk.length;
      const drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          app.off('drain', onDrain);
          resolve(false);
        }, 1500);
        const onDrain = (): void => {
          clearTimeout(t);
          resolve(true);
        };
        app.once('drain', onDrain);
      });
      if (!drained) break;
      expect(written).toBeLessThan(256 * MiB); // fail fast if nothing pushes back
    }
    // Whatever is in flight sits in kernel socket buffers (3 TCP hops), one 4 MiB stream
    // window and stream-level high-water marks; it must not grow with the amount sent.
    expect(written).toBeGreaterThan(4 * MiB);
    expect(written).toBeLessThan(64 * MiB);
    const got = receiveBytes(stalled);
    stalled.resume();
    app.end();
    expect((await got).bytes).toBe(written);
  }, 120_000);
});
