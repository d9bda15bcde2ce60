// A Duplex over an HBONE tunnel stream (or a gateway's TLS socket), handed to node:http /
// node:http2 servers as their "socket" (a waypoint's HTTP/1.1 server, http1/server.ts, takes
// the tunnel stream as it is and writes Buffers only). Writes reach the HTTP/2 stream as Buffers only: on Node 20 a writev that mixes
// strings (node:http writes its response head as a latin1 string) into an Http2Stream can
// send freed memory (seen here: the first bytes of "HTTP/1.1 404 Not Found" arrived as
// garbage). Concatenating corked chunks also sends one DATA frame instead of several.
import { Duplex } from 'node:stream';

type Chunk = { chunk: Buffer | string; encoding: BufferEncoding };

function toBuffer(chunk: Buffer | string, encoding: BufferEncoding): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding);
}

export class TunnelSocket extends Duplex {
  constructor(private readonly inner: Duplex & { setTimeout?: (ms: number, cb?: () => void) => unknown }) {
    super({ allowHalfOpen: true });
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.inner.write(toBuffer(chunk, encoding), callback);
  }

  override _writev(chunks: Chunk[], callback: (error?: Error | null) => void): void {
    this.inner.write(Buffer.concat(chunks.map((c) => toBuffer(c.chunk, c.encoding))), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.inner.destroyed) this.inner.destroy(err ?? undefined);
    callback(err);
  }

  // node:http arms keep-alive and request timeouts through the socket.
  setTimeout(ms: number, cb?: () => void): this {
    this.inner.setTimeout?.(ms, cb);
    return this;
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

type Patched = Duplex & {
  _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void;
  _writev?(chunks: Chunk[], callback: (error?: Error | null) => void): void;
  setNoDelay?: () => unknown;
  setKeepAlive?: () => unknown;
  ref?: () => unknown;
  unref?: () => unknown;
};

const self = function (this: unknown): unknown {
  return this;
};

/**
 * The tunnel stream itself as node:http's socket, without the Duplex in between (one stream
 * hop less per chunk each way): its writes are made Buffer-only in place (the same reason as
 * TunnelSocket), and the socket knobs node:http calls are no-ops.
 */
export function asHttpSocket(stream: Duplex): Duplex {
  const s = stream as Patched;
  // Writable passes 'buffer' as the encoding of Buffer chunks (not a BufferEncoding).
  const write = s._write.bind(s) as (chunk: Buffer, encoding: string, callback: (error?: Error | null) => void) => void;
  s._write = (chunk, encoding, callback) => write(toBuffer(chunk, encoding), 'buffer', callback);
  s._writev = (chunks, callback) =>
    write(
      chunks.length === 1
        ? toBuffer(chunks[0]!.chunk, chunks[0]!.encoding)
        : Buffer.concat(chunks.map((c) => toBuffer(c.chunk, c.encoding))),
      'buffer',
      callback,
    );
  s.setNoDelay ??= self;
  s.setKeepAlive ??= self;
  s.ref ??= self;
  s.unref ??= self;
  return s;
}
