// PodNet on loopback, for unit tests of the proxy handlers without root: every "pod" is an
// address in 127.0.0.0/8 (or ::1), a listener stands in for an iptables REDIRECT to a given
// original destination, dials are ordinary sockets, and the app hop binds the client's
// loopback address (any 127.x address is local, so no IP_TRANSPARENT is needed).
import net from 'node:net';
import { AmbitError, describeError } from '../../core/errors.js';
import type { OriginalDst, PodNet } from './pod-net.js';

export interface LoopbackDial {
  readonly netnsPath: string;
  readonly ip: string;
  readonly port: number;
  readonly sourceIp?: string;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || (net.isIPv4(ip) && ip.startsWith('127.'));
}

export class LoopbackPodNet implements PodNet {
  /** Every dial made, in order (which "pod" dialled what). */
  readonly dials: LoopbackDial[] = [];
  private readonly redirects = new Map<string, OriginalDst>();
  /** Delay before every app-hop connect (to test clients that close while the agent dials). */
  appDialDelayMs = 0;

  /** `pods`: netns path → the pod's loopback addresses; a pod's dials leave from its address. */
  constructor(private readonly pods: Readonly<Record<string, readonly string[]>> = {}) {}

  private sourceOf(netnsPath: string, ip: string): string | undefined {
    return this.pods[netnsPath]?.find((a) => net.isIP(a) === net.isIP(ip));
  }

  /** Connections accepted on `address:port` count as redirected from `dst` (like iptables REDIRECT). */
  redirect(address: string, port: number, dst: { address: string; port: number }): void {
    this.redirects.set(`${address}|${port}`, { ...dst, family: net.isIP(dst.address) === 6 ? 6 : 4 });
  }

  originalDst(socket: net.Socket): OriginalDst | undefined {
    if (socket.destroyed) throw new AmbitError('AMBIT_E_NETNS', 'original destination: the socket is closed');
    return this.redirects.get(`${socket.localAddress}|${socket.localPort}`);
  }

  dial(netnsPath: string, ip: string, port: number): Promise<net.Socket> {
    this.dials.push({ netnsPath, ip, port });
    const localAddress = this.sourceOf(netnsPath, ip);
    return connect({ host: ip, port, ...(localAddress ? { localAddress } : {}) });
  }

  dialApp(netnsPath: string, ip: string, port: number, sourceIp: string): Promise<net.Socket> {
    this.dials.push({ netnsPath, ip, port, sourceIp });
    if (!isLoopback(sourceIp) || net.isIP(sourceIp) !== net.isIP(ip)) {
      return Promise.reject(new AmbitError('AMBIT_E_NETNS', `loopback pod net cannot bind ${sourceIp}`));
    }
    const dial = (): Promise<net.Socket> => connect({ host: ip, port, localAddress: sourceIp });
    if (this.appDialDelayMs <= 0) return dial();
    return new Promise((r) => setTimeout(r, this.appDialDelayMs)).then(dial);
  }

  podSocket(netnsPath: string, family: 4 | 6): net.Socket {
    this.dials.push({ netnsPath, ip: family === 6 ? '::' : '0.0.0.0', port: 0 });
    const socket = new net.Socket({ allowHalfOpen: true });
    const connect = socket.connect.bind(socket) as (o: net.TcpNetConnectOpts) => net.Socket;
    // The pool calls connect(port, ip): leave from the pod's address, as a pod's socket would.
    (socket as { connect: unknown }).connect = (port: number, host: string): net.Socket => {
      const localAddress = this.sourceOf(netnsPath, host);
      return connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    };
    return socket;
  }
}

function connect(o: { host: string; port: number; localAddress?: string }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ ...o, allowHalfOpen: true });
    const onError = (err: Error): void => {
      reject(
        new AmbitError('AMBIT_E_UPSTREAM', `connect to ${o.host}:${o.port} failed: ${describeError(err)}`, {
          cause: err,
        }),
      );
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      sock.setNoDelay(true);
      resolve(sock);
    });
  });
}
