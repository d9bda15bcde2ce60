// The one byte relay of the data path: a TCP socket ↔ a tunnel (an HTTP/2 CONNECT stream, or
// another TCP socket, or any Duplex), keeping TCP semantics across it:
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
interface Http2Like { rstCode?: number; closed?: boolean; close(code?: number): void }

function isHttp2Stream(d: Duplex): d is Duplex & Http2Like {
  return typeof (d as Partial<Http2Like>).close === 'function' && 'rstCode' in d;
}

/**
 * Relay until both sides are closed; never rejects. Both sockets must allow half-open
 * connections (`allowHalfOpen: true` on net.createServer / net.connect), else Node closes the
 * write side when the read side ends. A side that already ended or closed before the call
 * (a client that sent FIN during a handshake, a stream reset while dialling) is handled.
 */
export function relay(socket: Socket, tunnel: Duplex): Promise<RelayResult> {
  return new Promise<RelayResult>((resolve) => {
    const result: RelayResult = { bytesToTunnel: 0, bytesFromTunnel: 0, reason: '' };
    const h2 = isHttp2Stream(tunnel);
    const tunnelIsSocket = tunnel instanceof Socket;
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
      if (h2) (tunnel as Http2Like).close(NGHTTP2_CONNECT_ERROR);
      else if (tunnelIsSocket) (tunnel as Socket).resetAndDestroy();
      else tunnel.destroy();
    };
    const resetSocket = (): void => { if (!socket.destroyed) socket.resetAndDestroy(); };
    // One side already gone (e.g. the client cancelled while the upstream was dialing).
    if (tunnel.destroyed && !socket.destroyed) { setReason('tunnel-closed'); resetSocket(); }
    if (socket.destroyed && !tunnel.destroyed) { setReason('socket-closed'); resetTunnel(); }

    socket.on('data', (chunk: Buffer) => { result.bytesToTunnel += chunk.length; });
    tunnel.on('data', (chunk: Buffer) => { result.bytesFromTunnel += chunk.length; });
    forward(socket, tunnel, tunnelIsSocket);
    forward(tunnel, socket, true);

    // FIN from the socket → END_STREAM (or FIN). 'end' may already have been emitted.
    const endTunnel = (): void => { if (!tunnel.destroyed && !tunnel.writableEnded) tunnel.end(); };
    if (socket.readableEnded) endTunnel(); else socket.once('end', endTunnel);
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
    const onTunnelEnd = (): void => {
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
    };
    if (tunnel.readableEnded) onTunnelEnd(); else tunnel.once('end', onTunnelEnd);
    tunnel.on('error', (err: NodeJS.ErrnoException) => {
      if (rstCode() !== NGHTTP2_NO_ERROR) setReason(`tunnel-reset:${rstCode()}`);
      else setReason(tunnelIsSocket && err.code === 'ECONNRESET' ? 'tunnel-reset' : `tunnel-error:${err.code ?? err.message}`);
      resetSocket();
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

export interface SpliceResult { fromClient: number; toClient: number; reason: string }

/**
 * Relay between two TCP sockets (both allowHalfOpen). Reasons name the sides: done,
 * client-reset, client-error:<code>, client-closed, server-reset, server-error:<code>, server-closed.
 */
export async function splice(client: Socket, server: Socket): Promise<SpliceResult> {
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
  // A side that cannot take more bytes any more must not leave the other paused for ever.
  to.once('close', () => { if (!from.destroyed) from.resume(); });
  from.resume();
}
