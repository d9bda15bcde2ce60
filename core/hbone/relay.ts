// Relay bytes between a TCP socket and a tunnel (an HTTP/2 CONNECT stream or any Duplex),
// keeping TCP semantics across the tunnel:
//   FIN from the socket      → END_STREAM on the tunnel, and END_STREAM → FIN (half-close both ways)
//   RST_STREAM on the tunnel → TCP RST on the socket (resetAndDestroy)
//   TCP RST / socket error   → RST_STREAM(CONNECT_ERROR) on the tunnel
// Backpressure: neither side reads while more than 1 MiB waits to be written on the other.
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

export interface RelayResult {
  bytesToTunnel: number;
  bytesFromTunnel: number;
  /** done | socket-reset | socket-error:<code> | tunnel-reset:<h2 code> | tunnel-error:<code> | tunnel-closed */
  reason: string;
}

/** The parts of an Http2Stream relay needs; other Duplexes are closed with destroy(). */
interface Http2Like { rstCode?: number; closed?: boolean; close(code?: number): void }

function isHttp2Stream(d: Duplex): d is Duplex & Http2Like {
  return typeof (d as Partial<Http2Like>).close === 'function' && 'rstCode' in d;
}

/**
 * Both sockets must allow half-open connections (`allowHalfOpen: true` on net.createServer /
 * net.connect), else Node closes the write side when the read side ends.
 */
export function relay(socket: Socket, tunnel: Duplex): Promise<RelayResult> {
  return new Promise<RelayResult>((resolve) => {
    const result: RelayResult = { bytesToTunnel: 0, bytesFromTunnel: 0, reason: '' };
    const h2 = isHttp2Stream(tunnel);
    let socketClosed = socket.destroyed;
    let tunnelClosed = tunnel.destroyed;
    const setReason = (r: string): void => { if (!result.reason) result.reason = r; };
    const finish = (): void => {
      if (!socketClosed || !tunnelClosed) return;
      setReason('done');
      resolve(result);
    };
    const rstCode = (): number => (h2 ? (tunnel as Http2Like).rstCode ?? NGHTTP2_NO_ERROR : NGHTTP2_NO_ERROR);
    const resetTunnel = (): void => {
      if (tunnel.destroyed || (h2 && (tunnel as Http2Like).closed)) return;
      if (h2) (tunnel as Http2Like).close(NGHTTP2_CONNECT_ERROR); else tunnel.destroy();
    };

    // One side already gone (e.g. the client cancelled while the upstream was dialing).
    if (tunnel.destroyed && !socket.destroyed) { setReason('tunnel-closed'); socket.resetAndDestroy(); }
    if (socket.destroyed && !tunnel.destroyed) { setReason('socket-closed'); resetTunnel(); }

    socket.on('data', (chunk: Buffer) => { result.bytesToTunnel += chunk.length; });
    tunnel.on('data', (chunk: Buffer) => { result.bytesFromTunnel += chunk.length; });
    forward(socket, tunnel, false);
    forward(tunnel, socket, true);

    // FIN from the client side → END_STREAM.
    socket.once('end', () => { if (!tunnel.destroyed && !tunnel.writableEnded) tunnel.end(); });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      setReason(err.code === 'ECONNRESET' ? 'socket-reset' : `socket-error:${err.code ?? err.message}`);
      resetTunnel();
    });
    socket.once('close', (hadError: boolean) => {
      socketClosed = true;
      // Closed without both directions finishing (destroyed locally or errored): reset the tunnel.
      if (hadError || !socket.readableEnded || !socket.writableFinished) {
        setReason('socket-closed');
        resetTunnel();
      }
      finish();
    });

    // END_STREAM → FIN, but a RST_STREAM also ends the readable side first (rstCode still 0
    // then): look again one turn later before choosing between FIN and RST.
    tunnel.once('end', () => {
      setImmediate(() => {
        if (socket.destroyed) return;
        const code = rstCode();
        if (code !== NGHTTP2_NO_ERROR) {
          setReason(`tunnel-reset:${code}`);
          socket.resetAndDestroy();
        } else if (!socket.writableEnded) {
          socket.end();
        }
      });
    });
    tunnel.on('error', (err: NodeJS.ErrnoException) => {
      setReason(rstCode() !== NGHTTP2_NO_ERROR ? `tunnel-reset:${rstCode()}` : `tunnel-error:${err.code ?? err.message}`);
      if (!socket.destroyed) socket.resetAndDestroy();
    });
    tunnel.once('close', () => {
      tunnelClosed = true;
      const code = rstCode();
      const clean = code === NGHTTP2_NO_ERROR && tunnel.readableEnded && tunnel.writableFinished;
      if (!clean && !socket.destroyed) {
        setReason(code !== NGHTTP2_NO_ERROR ? `tunnel-reset:${code}` : 'tunnel-closed');
        socket.resetAndDestroy();
      }
      finish();
    });
    finish();
  });
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
function forward(from: Duplex, to: Duplex, cork: boolean): void {
  // The first chunk of an event-loop turn is written at once (a lone small message must not
  // wait a turn: request/response latency); the chunks after it in the same turn are corked
  // and leave together with one writev.
  let inTurn = false;
  let corked = false;
  const endTurn = (): void => {
    inTurn = false;
    if (corked) { corked = false; to.uncork(); }
  };
  from.on('data', (chunk: Buffer) => {
    if (to.destroyed || to.writableEnded) return;
    if (cork) {
      if (!inTurn) { inTurn = true; setImmediate(endTurn); } else if (!corked) { corked = true; to.cork(); }
    }
    to.write(chunk);
    if (to.writableLength > WRITE_BUFFER_LIMIT) from.pause();
  });
  to.on('drain', () => { if (to.writableLength <= WRITE_BUFFER_LIMIT) from.resume(); });
  from.resume();
}
