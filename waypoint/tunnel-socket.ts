// A Duplex over an HBONE tunnel stream, handed to node:http / node:http2 servers as their
// "socket". Writes reach the HTTP/2 stream as Buffers only: on Node 20 a writev that mixes
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
