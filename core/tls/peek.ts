// Peeks a stream's TLS ClientHello without consuming it: the bytes read are pushed back
// (unshift), so whoever takes the stream next (a relay, a TLS server) sees them all.
import type { Duplex } from 'node:stream';
import { CLIENT_HELLO_MAX_BYTES, parseClientHello, type ClientHelloResult } from './client-hello.js';

export type PeekResult =
  | ClientHelloResult
  /** The client sent nothing decisive within the deadline. */
  | { readonly kind: 'timeout' }
  /** The stream ended or failed before the hello was complete. */
  | { readonly kind: 'closed' };

export interface PeekOptions {
  readonly maxBytes?: number;
  /** Deadline for a complete hello; 10 s unless set. */
  readonly timeoutMs?: number;
}

/** Reads until the ClientHello decides (or the bound, deadline or end), then puts the bytes back. */
export function peekClientHello(stream: Duplex, opts: PeekOptions = {}): Promise<PeekResult> {
  const maxBytes = opts.maxBytes ?? CLIENT_HELLO_MAX_BYTES;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (result: PeekResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onClosed);
      stream.off('close', onClosed);
      stream.off('error', onClosed);
      // Bytes read before the end are lost with it: nothing could route a partial hello anyway.
      if (chunks.length > 0 && !stream.destroyed && !stream.readableEnded) stream.unshift(Buffer.concat(chunks));
      resolve(result);
    };
    const onClosed = (): void => finish({ kind: 'closed' });
    const onReadable = (): void => {
      for (;;) {
        const chunk = stream.read() as Buffer | string | null;
        if (chunk === null) return;
        chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
        const result = parseClientHello(Buffer.concat(chunks), maxBytes);
        if (result.kind !== 'incomplete') {
          finish(result);
          return;
        }
      }
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), opts.timeoutMs ?? 10_000);
    stream.on('readable', onReadable);
    stream.once('end', onClosed);
    stream.once('close', onClosed);
    stream.once('error', onClosed);
    if (stream.readableEnded || stream.destroyed) finish({ kind: 'closed' });
  });
}
