// Plain TCP pieces of the proxy: dialling from a pod's netns and splicing two sockets with
// TCP semantics (half-close both ways, a reset on one side resets the other).
import net from 'node:net';
import { AmbitError, describeError } from '../../core/errors.js';
import { AGENT_MARK, createPodSocket, type PodSocketOptions } from '../inpod/sockets.js';

/** Connect from inside `netnsPath` (marked, so the pod's rules do not capture it again). */
export function dialFromPod(netnsPath: string, ip: string, port: number, opts: PodSocketOptions = {}, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    try {
      sock = createPodSocket(netnsPath, { mark: AGENT_MARK, family: net.isIP(ip) === 6 ? 6 : 4, ...opts });
      sock.connect(port, ip);
    } catch (err) {
      reject(err);
      return;
    }
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new AmbitError('AMBIT_E_TIMEOUT', `connect to ${ip}:${port} from ${netnsPath} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeListener('error', onError);
      sock.setNoDelay(true);
      resolve(sock);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      reject(new AmbitError('AMBIT_E_UPSTREAM', `connect to ${ip}:${port} failed: ${describeError(err)}`, { cause: err }));
    };
    sock.once('error', onError);
  });
}

export interface SpliceResult { fromClient: number; toClient: number; reason: string }

/** Relay `client` ↔ `server` until both are closed. Both must be allowHalfOpen sockets. */
export function splice(client: net.Socket, server: net.Socket): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const r: SpliceResult = { fromClient: 0, toClient: 0, reason: '' };
    let open = 2;
    const closed = (): void => {
      if (--open > 0) return;
      if (!r.reason) r.reason = 'done';
      resolve(r);
    };
    client.on('data', (d: Buffer) => { r.fromClient += d.length; });
    server.on('data', (d: Buffer) => { r.toClient += d.length; });
    client.pipe(server, { end: false });
    server.pipe(client, { end: false });
    client.once('end', () => { if (!server.destroyed) server.end(); });
    server.once('end', () => { if (!client.destroyed) client.end(); });
    const onError = (side: string, other: net.Socket) => (err: NodeJS.ErrnoException): void => {
      if (!r.reason) r.reason = err.code === 'ECONNRESET' ? `${side}-reset` : `${side}-error:${err.code ?? err.message}`;
      if (!other.destroyed) other.resetAndDestroy();
    };
    client.on('error', onError('client', server));
    server.on('error', onError('server', client));
    client.once('close', closed);
    server.once('close', closed);
  });
}
