// Every connection the agent counts as open is counted closed again once both ends are gone,
// whichever way the ends go: FIN, half-close, reset on either side, a client that leaves while
// the tunnel or the app connection is still being set up, a server that closes first. The
// whole path runs on loopback: outbound → mTLS HBONE → inbound → app (both hops tracked).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopbackMesh, SERVER_IP, until, VIP } from './loopback-mesh.js';

type AppBehaviour = (s: net.Socket) => void;

const echo: AppBehaviour = (s) => {
  s.on('data', (d) => s.write(d));
  s.on('end', () => s.end());
};

describe('open-connection count', () => {
  let m: LoopbackMesh;
  let behaviour: AppBehaviour = echo;
  const appSockets = new Set<net.Socket>();
  const app = net.createServer({ allowHalfOpen: true }, (s) => {
    appSockets.add(s);
    s.once('close', () => appSockets.delete(s));
    s.on('error', () => undefined);
    behaviour(s);
  });

  beforeAll(async () => {
    m = await LoopbackMesh.start();
    await new Promise<void>((r) => app.listen(0, SERVER_IP, r));
    const port = (app.address() as net.AddressInfo).port;
    // The Service VIP now leads to this app.
    (m as unknown as { app: { port: number } }).app.port = port;
    m.apply();
  });
  afterAll(async () => {
    await m.close();
    await new Promise((r) => app.close(r));
  });

  /** Run `client` on `n` connections to the VIP, then wait for the count and the app to settle. */
  async function settle(
    n: number,
    client: (s: net.Socket) => Promise<void> | void,
  ): Promise<{ active: number; appOpen: number }> {
    const sockets = await Promise.all(Array.from({ length: n }, () => m.connectOutbound(VIP, 80)));
    await Promise.all(
      sockets.map(async (s) => {
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        await client(s);
        if (!s.destroyed) await new Promise((r) => s.once('close', r));
      }),
    );
    await until(() => m.active() === 0 && appSockets.size === 0, 5000);
    return { active: m.active(), appOpen: appSockets.size };
  }

  const waitData = (s: net.Socket): Promise<void> => new Promise((r) => s.once('data', () => r()));
  const waitConnect = (s: net.Socket): Promise<void> =>
    s.connecting ? new Promise((r) => s.once('connect', () => r())) : Promise.resolve();

  it('request, answer, FIN both ways', async () => {
    behaviour = echo;
    expect(
      await settle(10, async (s) => {
        s.write('ping');
        await waitData(s);
        s.end();
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('client half-closes; the app answers after the FIN, then closes', async () => {
    behaviour = (s) => {
      s.on('data', () => undefined);
      s.on('end', () => setTimeout(() => s.end('late answer'), 20));
    };
    expect(
      await settle(10, (s) => {
        s.end('request');
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('the client resets after an answer, with an answer unread (what wrk does on exit)', async () => {
    behaviour = (s) => {
      s.on('data', (d) => {
        s.write(d);
        s.write(Buffer.alloc(64 * 1024));
      });
      s.on('end', () => s.end());
    };
    expect(
      await settle(10, async (s) => {
        s.write('GET');
        await waitData(s);
        s.write('GET again');
        s.destroy();
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('the app resets after a request', async () => {
    behaviour = (s) => {
      s.once('data', () => s.resetAndDestroy());
    };
    expect(
      await settle(10, (s) => {
        s.write('x');
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('the app closes first; the client answers the FIN', async () => {
    behaviour = (s) => {
      s.on('data', () => undefined);
      s.end('bye');
      s.on('end', () => undefined);
    };
    expect(
      await settle(10, (s) => {
        s.once('end', () => s.end());
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('the client leaves while the tunnel is being set up (reset, and FIN)', async () => {
    behaviour = echo;
    expect(
      await settle(10, async (s) => {
        await waitConnect(s);
        s.resetAndDestroy();
      }),
    ).toEqual({ active: 0, appOpen: 0 });
    expect(
      await settle(10, (s) => {
        s.end('hello');
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('a client that sends FIN without a byte while the tunnel is being set up (what a relay once missed)', async () => {
    // Node emits 'end' on an empty socket before anyone reads it: the FIN must still reach the app.
    behaviour = echo;
    expect(
      await settle(10, (s) => {
        s.end();
      }),
    ).toEqual({ active: 0, appOpen: 0 });
  });

  it('the client leaves while the agent is still dialling the app', async () => {
    behaviour = echo;
    m.net.appDialDelayMs = 100;
    try {
      expect(
        await settle(10, async (s) => {
          s.write('x');
          await new Promise((r) => setTimeout(r, 30));
          s.resetAndDestroy();
        }),
      ).toEqual({ active: 0, appOpen: 0 });
      expect(
        await settle(10, (s) => {
          s.end('request and FIN at once');
        }),
      ).toEqual({ active: 0, appOpen: 0 });
    } finally {
      m.net.appDialDelayMs = 0;
    }
  });

  it('many clients with mixed endings leave nothing open', async () => {
    let i = 0;
    behaviour = echo;
    const r = await settle(60, async (s) => {
      const k = i++ % 4;
      s.write('x');
      if (k === 0) {
        await waitData(s);
        s.end();
      } else if (k === 1) {
        s.end();
      } else if (k === 2) {
        await waitData(s);
        s.resetAndDestroy();
      } else {
        await waitConnect(s);
        s.destroy();
      }
    });
    expect(r).toEqual({ active: 0, appOpen: 0 });
    const c = m.tracker.counts();
    expect(c.opened).toBe(c.closed);
  });
});
