import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { http1Transport, type EndpointTransport } from './transport.js';

/** A duplex over a TCP socket that is not a net.Socket, as HBONE streams are (wrapped in TunnelSocket). */
class NotASocket extends Duplex {
  constructor(private readonly s: net.Socket) {
    super({ allowHalfOpen: true });
    s.on('data', (c: Buffer) => {
      if (!this.push(c)) s.pause();
    });
    s.on('end', () => this.push(null));
    s.on('error', (err) => this.destroy(err));
  }
  override _read(): void {
    this.s.resume();
  }
  override _write(c: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.s.write(c, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.s.end(cb);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.s.destroy();
    cb(err);
  }
}

describe('http1Transport keep-alive over tunnels', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it('keeps one error listener on a reused tunnel socket after many requests', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    let dials = 0;
    const transport: EndpointTransport = http1Transport(
      () =>
        new Promise((resolve, reject) => {
          dials++;
          const s = net.connect(port, '127.0.0.1', () => resolve(new NotASocket(s)));
          s.once('error', reject);
        }),
      { maxConnections: 1 },
    );
    cleanup.push(() => transport.close());
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    cleanup.push(() => process.off('warning', onWarning));

    const sockets = new Set<Duplex>();
    let maxErrorListeners = 0;
    for (let i = 0; i < 40; i++) {
      const res = await transport.request({
        method: 'GET',
        path: '/',
        authority: 'external.example',
        headers: {},
        body: undefined,
        signal: new AbortController().signal,
      });
      const socket = (res.body as http.IncomingMessage).socket as Duplex;
      sockets.add(socket);
      maxErrorListeners = Math.max(maxErrorListeners, socket.listenerCount('error'));
      let text = '';
      for await (const chunk of res.body) text += String(chunk);
      expect(text).toBe('ok');
    }
    expect(dials).toBe(1);
    expect(sockets.size).toBe(1);
    expect(maxErrorListeners).toBeLessThanOrEqual(2);
    expect(warnings.filter((w) => w.includes('error listeners'))).toEqual([]);
  });
});
