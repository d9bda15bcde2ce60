// Sockets inside a pod's network namespace, as ordinary Node objects. The addon makes the fd
// inside the namespace; Node wraps it (net.Server.listen({fd}) / new net.Socket({fd})).
// Connect only to IP literals from a pod socket: a DNS lookup or autoSelectFamily could swap
// in a host-namespace socket and the traffic would leave the pod's namespace.
import net from 'node:net';
import { AmbitError } from '../../core/errors.js';
import { netnsAddon, type OriginalDst } from './native.js';

/** Mark of every agent-originated socket; the pod's iptables rules never capture it. */
export const AGENT_MARK = 0x539;

function familyOf(ip: string, what: string): 4 | 6 {
  const family = net.isIP(ip);
  if (family === 0)
    throw new AmbitError('AMBIT_E_NETNS', `${what}: not an IP literal: "${ip}"`, {
      hint: 'pod sockets take IP literals only',
    });
  return family as 4 | 6;
}

function netnsError(op: string, netnsPath: string, err: unknown): AmbitError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'ENOENT'
      ? 'the pod network namespace is gone'
      : code === 'EPERM'
        ? 'the agent needs CAP_SYS_ADMIN (setns) and CAP_NET_ADMIN (SO_MARK, IP_TRANSPARENT)'
        : undefined;
  return new AmbitError('AMBIT_E_NETNS', `${op} in ${netnsPath}: ${(err as Error).message}`, {
    cause: err,
    ...(hint ? { hint } : {}),
  });
}

export interface ListenInNetnsOptions {
  /** Listen with this server (its 'connection' handler is already attached). */
  server?: net.Server;
  backlog?: number;
  /**
   * SO_REUSEPORT: another agent process can listen on the same port in the same namespace
   * (a restart opens the new agent's listeners before the old agent closes its own).
   */
  reusePort?: boolean;
}

const handoverSet = new Set<string>();

/**
 * Let a closing listener hand the connections waiting in its accept queue to another listener
 * of its SO_REUSEPORT group instead of resetting them (net.ipv4.tcp_migrate_req, Linux ≥ 5.14,
 * per namespace). Returns false when the kernel (or an old addon build) has no such setting.
 */
export function enableListenerHandover(netnsPath: string): boolean {
  if (handoverSet.has(netnsPath)) return true;
  const addon = netnsAddon();
  // An addon built before this function existed (rebuild with scripts/build-native.mjs).
  if (typeof addon.setNetnsSysctl !== 'function') return false;
  try {
    addon.setNetnsSysctl(netnsPath, 'net/ipv4/tcp_migrate_req', '1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw netnsError('net.ipv4.tcp_migrate_req', netnsPath, err);
  }
  handoverSet.add(netnsPath);
  return true;
}

/** A listening TCP server whose socket lives in the namespace at `netnsPath`. */
export async function listenInNetns(
  netnsPath: string,
  port: number,
  host = '0.0.0.0',
  opts: ListenInNetnsOptions = {},
): Promise<net.Server> {
  const addon = netnsAddon();
  const family = familyOf(host, `listen ${host}:${port}`);
  let fd: number;
  try {
    fd = addon.socketInNetns(netnsPath, family);
  } catch (err) {
    throw netnsError(`socket for ${host}:${port}`, netnsPath, err);
  }
  try {
    addon.bindTo(fd, host, port, true, opts.reusePort ?? false);
  } catch (err) {
    addon.closeFd(fd);
    throw netnsError(`bind ${host}:${port}`, netnsPath, err);
  }
  const server = opts.server ?? net.createServer({ allowHalfOpen: true });
  // From here Node owns the fd: it closes it itself if listen fails.
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(netnsError(`listen ${host}:${port}`, netnsPath, err));
    server.once('error', onError);
    server.listen({ fd, backlog: opts.backlog ?? 511 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server;
}

export interface PodSocketOptions {
  /** SO_MARK; the agent's sockets use AGENT_MARK so they are not captured again. Omit for none. */
  mark?: number;
  /** IP_TRANSPARENT: allows binding `bindIp` to an address that is not local (source IP preservation). */
  transparent?: boolean;
  /** Bind the source address (port chosen by the kernel). */
  bindIp?: string;
  /** Address family when `bindIp` is not given (default 4). */
  family?: 4 | 6;
}

/**
 * An unconnected TCP socket inside the namespace at `netnsPath`. The caller must call
 * `connect(port, ip)` in the same tick, with an IP literal.
 */
export function createPodSocket(netnsPath: string, opts: PodSocketOptions = {}): net.Socket {
  const addon = netnsAddon();
  const family = opts.bindIp !== undefined ? familyOf(opts.bindIp, 'bind') : (opts.family ?? 4);
  let fd: number;
  try {
    fd = addon.socketInNetns(netnsPath, family);
  } catch (err) {
    throw netnsError('socket', netnsPath, err);
  }
  try {
    if (opts.mark !== undefined) addon.setMark(fd, opts.mark);
    if (opts.transparent) addon.setTransparent(fd);
    if (opts.bindIp !== undefined) addon.bindTo(fd, opts.bindIp, 0);
  } catch (err) {
    addon.closeFd(fd);
    throw netnsError('socket options', netnsPath, err);
  }
  return guardConnect(new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true }));
}

/** Refuse host names on a pod socket (they could resolve through a host-netns socket). */
function guardConnect(socket: net.Socket): net.Socket {
  const connect = socket.connect.bind(socket) as (...args: unknown[]) => net.Socket;
  const patched = (...args: unknown[]): net.Socket => {
    const first = args[0];
    const host = typeof first === 'object' && first !== null ? (first as net.TcpNetConnectOpts).host : args[1];
    if (typeof host !== 'string' || net.isIP(host) === 0) {
      socket.destroy();
      throw new AmbitError('AMBIT_E_NETNS', `pod socket connect: not an IP literal: ${String(host)}`, {
        hint: 'resolve names before dialling from a pod namespace',
      });
    }
    if (typeof first === 'object' && first !== null) args[0] = { ...(first as object), autoSelectFamily: false };
    return connect(...args);
  };
  (socket as { connect: unknown }).connect = patched;
  return socket;
}

/**
 * The destination a REDIRECTed connection was addressed to (SO_ORIGINAL_DST), or undefined
 * when it was not redirected. The only place that reads an accepted socket's fd, which is
 * valid from 'connection' until the socket is destroyed.
 */
export function originalDst(socket: net.Socket): OriginalDst | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new AmbitError('AMBIT_E_NETNS', 'original destination: the socket has no fd (already closed?)');
  }
  const dst = netnsAddon().getOriginalDst(fd);
  // Where conntrack is active but nothing was NATed, the kernel answers with the socket's
  // own address: that is "not redirected" too.
  if (dst && dst.address === socket.localAddress && dst.port === socket.localPort) return undefined;
  return dst;
}

/** Drop the cached namespace fd (when a pod is removed; a held fd keeps the netns alive). */
export function releaseNetns(netnsPath: string): boolean {
  handoverSet.delete(netnsPath);
  return netnsAddon().closeNetns(netnsPath);
}
