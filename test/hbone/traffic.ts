// Traffic helpers for the heavy HBONE tests: a checksummed byte source and sink.
import { createHash, randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';

const CHUNK = 256 * 1024;

/**
 * Write `total` bytes of pseudo-random data (a random block, each chunk stamped with its
 * index so reordering or loss changes the hash), honouring backpressure; returns the sha256.
 */
export async function sendBytes(w: Writable, total: number, opts: { end?: boolean } = {}): Promise<string> {
  const base = randomBytes(CHUNK);
  const hash = createHash('sha256');
  let sent = 0;
  let index = 0;
  while (sent < total) {
    const n = Math.min(CHUNK, total - sent);
    const chunk = Buffer.from(base.subarray(0, n));
    chunk.writeUInt32BE(index++ >>> 0, 0);
    hash.update(chunk);
    sent += n;
    if (!w.write(chunk))
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          w.off('error', onError);
          resolve();
        };
        const onError = (e: Error): void => {
          w.off('drain', onDrain);
          reject(e);
        };
        w.once('drain', onDrain);
        w.once('error', onError);
      });
  }
  if (opts.end !== false) w.end();
  return hash.digest('hex');
}

export interface Received {
  bytes: number;
  sha256: string;
}

/** Hash everything `r` yields until it ends. */
export function receiveBytes(
  r: NodeJS.ReadableStream & { once(ev: string, fn: (...a: unknown[]) => void): unknown },
): Promise<Received> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    r.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    r.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    r.once('error', (e) => reject(e as Error));
  });
}
