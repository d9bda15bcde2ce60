// The one byte relay of the data path, between any two of: a TCP socket, an HTTP/2 CONNECT
// stream, another Duplex; keeping TCP semantics across it:
//   FIN from the socket        → END_STREAM / FIN on the tunnel, and back (half-close both ways)
//   RST_STREAM on the tunnel   → TCP RST on the socket (resetAndDestroy)
//   TCP RST on a socket tunnel → TCP RST on the socket
//   TCP RST / socket error     → RST_STREAM(CONNECT_ERROR) on an HTTP/2 tunnel, RST on a socket
// stream.pipeline and pipe() turn resets into clean closes (Node emits 'end' on a RST_STREAM
// before 'error'), so nothing on the data path uses them.
// Backpressure: neither side reads while more than 1 MiB waits to be written on the other.
import http2 from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

export interface RelayResult {
  /** Bytes read from the socket and written to the tunnel. */
  bytesToTunnel: number;
  /** Bytes read from the tunnel and written to the socket. */
  bytesFromTunnel: number;
  /**
   * done | socket-reset | socket-error:<code> | socket-closed | tunnel-reset:<h2 code> |
   * tunnel-reset (a socket tunnel's RST) | tunnel-error:<code> | tunnel-closed
   */
  reason: string;
}

/** The parts of an Http2Stream relay needs. */
interface Http2Like {
  rstCode?: number;
  closed?: boolean;
  close(code?: number): void;
}

function isHttp2Stream(d: Duplex): d is Duplex & Http2Like {
  return typeof (d as Partial<Http2Like>).close === 'function' && 'rstCode' in d;
}

/** One end of a relay and how TCP events map onto it. */
class End {
  readonly h2: boolean;
  readonly tcp: boolean;
  closed: boolean;
  constructor(
    readonly d: Duplex,
    readonly name: 'socket' | 'tunnel',
  ) {
    this.h2 = isHttp2Stream(d);
    this.tcp = d instanceof Socket;
    this.closed = d.destroyed;
  }

  /** The RST_STREAM code received or sent (0 when none, or not HTTP/2). */
  rstCode(): number {
    return this.h2 ? ((this.d as unknown as Http2Like).rstCode ?? NGHTTP2_NO_ERROR) : NGHTTP2_NO_ERROR;
  }

  /** Abort: RST_STREAM(CONNECT_ERROR) on HTTP/2, TCP RST on a socket, destroy otherwise. */
  reset(): void {
    if (this.d.destroyed || (this.h2 && (this.d as unknown as Http2Like).closed)) return;
    if (this.h2) (this.d as unknown as Http2Like).close(NGHTTP2_CONNECT_ERROR);
    else if (this.tcp) {
      // Only a plain TCP handle can send RST; a TLS socket or a unix socket is just closed.
      try {
        (this.d as Socket).resetAndDestroy();
      } catch {
        this.d.destroy();
      }
    } else this.d.destroy();
  }

  /** Both directions finished without a reset. */
  clean(): boolean {
    return this.rstCode() === NGHTTP2_NO_ERROR && this.d.readableEnded && this.d.writableFinished;
  }
}

/**
 * Relay until both sides are closed; never rejects. Each side is a TCP socket, an HTTP/2
 * stream or another Duplex, in any combination (the names only label the result: `socket`'s
 * bytes count as bytesToTunnel). Sockets must allow half-open connections
 * (`allowHalfOpen: true` on net.createServer / net.connect), else Node closes the write side
 * when the read side ends. A side that already ended or closed before the call (a client
 * that sent FIN during a handshake, a stream reset while dialling) is handled.
 * `result` may be passed in: its byte counts are then live while the relay runs (what
 * `/debug/connections` reads for open connections); the promise resolves with it.
 */
export function relay(
  socket: Duplex,
  tunnel: Duplex,
  result: RelayResult = { bytesToTunnel: 0, bytesFromTunnel: 0, reason: '' },
): Promise<RelayResult> {
  return new Promise<RelayResult>((resolve) => {
    const a = new End(socket, 'socket');
    const b = new End(tunnel, 'tunnel');
    const setReason = (r: string): void => {
      if (!result.reason) result.reason = r;
    };
    const finish = (): void => {
      if (!a.closed || !b.closed) return;
      setReason('done');
      resolve(result);
    };
    // One side already gone (e.g. the client cancelled while the upstream was dialing).
    if (b.d.destroyed && !a.d.destroyed) {
      setReason('tunnel-closed');
      a.reset();
    }
    if (a.d.destroyed && !b.d.destroyed) {
      setReason('socket-closed');
      b.reset();
    }

    const counters = [
      (n: number): void => void (result.bytesToTunnel += n),
      (n: number): void => void (result.bytesFromTunnel += n),
    ] as const;
    for (const [from, to, count] of [
      [a, b, counters[0]],
      [b, a, counters[1]],
    ] as const) {
      forward(from.d, to.d, to.tcp, count);
      // FIN / END_STREAM → FIN / END_STREAM. A RST_STREAM also ends an HTTP/2 stream's
      // readable side first (rstCode still 0 then): look again one turn later before choosing
      // between FIN and RST. 'end' may already have been emitted.
      const onEnd = (): void => {
        const pass = (): void => {
          if (to.d.destroyed) return;
          const code = from.rstCode();
          if (code !== NGHTTP2_NO_ERROR) {
            setReason(`${from.name}-reset:${code}`);
            to.reset();
          } else if (!to.d.writableEnded) {
            to.d.end();
          }
        };
        if (from.h2) setImmediate(pass);
        else pass();
      };
      if (from.d.readableEnded) onEnd();
      else from.d.once('end', onEnd);
      from.d.on('error', (err: NodeJS.ErrnoException) => {
        const code = from.rstCode();
        if (code !== NGHTTP2_NO_ERROR) setReason(`${from.name}-reset:${code}`);
        else
          setReason(err.code === 'ECONNRESET' ? `${from.name}-reset` : `${from.name}-error:${err.code ?? err.message}`);
        to.reset();
      });
      from.d.once('close', () => {
        from.closed = true;
        // Closed without both directions finishing (reset, destroyed locally or errored).
        if (!from.clean() && !to.d.destroyed) {
          const code = from.rstCode();
          setReason(code !== NGHTTP2_NO_ERROR ? `${from.name}-reset:${code}` : `${from.name}-closed`);
          to.reset();
        }
        finish();
      });
    }
    finish();
  });
}

export interface SpliceResult {
  fromClient: number;
  toClient: number;
  reason: string;
}

/**
 * Relay between two TCP sockets (both allowHalfOpen). Reasons name the sides: done,
 * client-reset, client-error:<code>, client-closed, server-reset, server-error:<code>, server-closed.
 */
export async function splice(client: Duplex, server: Duplex): Promise<SpliceResult> {
  const r = await relay(client, server);
  const reason = r.reason.replace(/^socket-/, 'client-').replace(/^tunnel-/, 'server-');
  return { fromClient: r.bytesToTunnel, toClient: r.bytesFromTunnel, reason };
}

/** Bytes queued in user space on the writing side before the reading side is paused. */
const WRITE_BUFFER_LIMIT = 1024 * 1024;

/**
 * Copy `from` → `to` (no end: FIN/END_STREAM are mapped by relay itself), pausing `from`
 * while more than 1 MiB waits in `to`. Unlike pipe(), which pauses at the 16 KiB high-water
 * mark after nearly every 64 KiB chunk (a readStop/readStart and epoll_ctl pair each time),
 * this lets HTTP/2 and TLS batch their writes: measured 62k → 22k syscalls per 256 MiB.
 * `cork` (towards a TCP socket): an HTTP/2 stream hands over about two chunks per 16 KiB TLS
 * record; corking the rest of this event-loop turn sends them with one writev.
 */
function forward(from: Duplex, to: Duplex, cork: boolean, count: (bytes: number) => void): void {
  // The first chunk of an event-loop turn is written at once (a lone small message must not
  // wait a turn: request/response latency); the chunks after it in the same turn are corked
  // and leave together with one writev.
  let inTurn = false;
  let corked = false;
  const endTurn = (): void => {
    inTurn = false;
    if (corked) {
      corked = false;
      to.uncork();
    }
  };
  // The only 'data' listener (it also counts): with two, every emit would copy the listener list.
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (to.destroyed || to.writableEnded) return;
    if (cork) {
      if (!inTurn) {
        inTurn = true;
        setImmediate(endTurn);
      } else if (!corked) {
        corked = true;
        to.cork();
      }
    }
    to.write(chunk);
    if (to.writableLength > WRITE_BUFFER_LIMIT) from.pause();
  });
  to.on('drain', () => {
    if (to.writableLength <= WRITE_BUFFER_LIMIT) from.resume();
  });
  // A side that cannot take more bytes any more must not leave the other paused for ever.
  to.once('close', () => {
    if (!from.destroyed) from.resume();
  });
  from.resume();
}
