// SOCKS5 (RFC 1928, CONNECT only, no authentication) on the node, 127.0.0.1:15080, for
// clients that cannot be captured. The destination goes through the same routing as captured
// traffic (VIP → endpoint → HBONE, or passthrough), presenting the agent's SOCKS identity.
// Names resolve against the mesh's service hostnames first (on demand: asked of the controller
// the first time), then the node's resolver; an address the agent does not hold is looked up
// before it is routed, like captured traffic.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { describeError } from '../../core/errors.js';
import { joinHostPort } from '../../core/hbone/index.js';
import { relayTracked } from './relay-tracked.js';
import type { Tracked } from './connections.js';
import type { ProxyContext } from './context.js';
import { splice } from '../../core/net/relay.js';
import { routeOnDemand } from '../state/mesh-state.js';

const REP = {
  ok: 0,
  notAllowed: 2,
  hostUnreachable: 4,
  refused: 5,
  commandNotSupported: 7,
  addressNotSupported: 8,
} as const;

export interface Socks5Options {
  /** SPIFFE id the tunnels present. */
  identity: string;
  namespace: string;
}

export function createSocks5Server(ctx: ProxyContext, o: Socks5Options): net.Server {
  return net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.setTimeout(30_000, () => socket.destroy());
    void handshake(socket)
      .then(async (req) => {
        socket.setTimeout(0);
        if (!req) return;
        const ip = net.isIP(req.host) ? req.host : await resolve(ctx, req.host);
        if (!ip) {
          refuse(socket, REP.hostUnreachable);
          return;
        }
        await proxy(ctx, o, socket, ip, req.port);
      })
      .catch((err: unknown) => {
        ctx.log.debug('socks5 connection failed', { err: describeError(err) });
        socket.destroy();
      });
  });
}

async function resolve(ctx: ProxyContext, host: string): Promise<string | undefined> {
  const meshVip = (): string | undefined =>
    ctx.state().snapshot.services.find((s) => s.hostname === host || `${s.name}.${s.namespace}` === host)?.vips[0];
  // On demand the agent holds only the services it has met: ask the controller for the name.
  if (!meshVip() && ctx.lookup) await ctx.lookup(host);
  const vip = meshVip();
  if (vip) return vip;
  try {
    return (await lookup(host)).address;
  } catch {
    return undefined;
  }
}

/** Reads greeting + request; answers errors itself and returns undefined for them. */
async function handshake(socket: net.Socket): Promise<{ host: string; port: number } | undefined> {
  const read = reader(socket);
  const [ver, nMethods] = await read(2);
  if (ver !== 5) {
    socket.destroy();
    return undefined;
  }
  const methods = await read(nMethods!);
  if (!methods.includes(0)) {
    closeWith(socket, Buffer.from([5, 0xff]));
    return undefined;
  }
  socket.write(Buffer.from([5, 0]));
  const [, cmd, , atyp] = await read(4);
  let host: string;
  if (atyp === 1) host = [...(await read(4))].join('.');
  else if (atyp === 4) {
    const b = await read(16);
    host = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
  } else if (atyp === 3) host = (await read((await read(1))[0]!)).toString('utf8');
  else {
    refuse(socket, REP.addressNotSupported);
    return undefined;
  }
  const port = (await read(2)).readUInt16BE(0);
  if (cmd !== 1) {
    refuse(socket, REP.commandNotSupported);
    return undefined;
  }
  return { host, port };
}

function refuse(socket: net.Socket, rep: number): void {
  closeWith(socket, Buffer.from([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]));
}

/**
 * Last bytes, then close. The socket is paused (handshake reads) and half-open is allowed, so
 * without draining it the client's FIN is never seen and the socket would stay open for good.
 */
function closeWith(socket: net.Socket, last: Buffer): void {
  if (socket.destroyed) return;
  socket.end(last);
  socket.resume();
  socket.setTimeout(10_000, () => socket.destroy());
}

function reply(socket: net.Socket, rep: number): void {
  if (!socket.destroyed) socket.write(Buffer.from([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]));
}

/** Exact-length reads (paused mode), before the socket is handed to the relay. */
function reader(socket: net.Socket): (n: number) => Promise<Buffer> {
  return (n) =>
    new Promise((resolve, reject) => {
      // socket.read(0) never yields data: a zero-length field (no methods, an empty name) is read at once.
      if (n === 0) {
        resolve(Buffer.alloc(0));
        return;
      }
      const cleanup = (): void => {
        socket.off('readable', tryRead);
        socket.off('end', onEnd);
      };
      const onEnd = (): void => {
        cleanup();
        reject(new Error('client closed during the SOCKS handshake'));
      };
      function tryRead(): void {
        const b = socket.read(n) as Buffer | null;
        if (b === null) return;
        cleanup();
        if (b.length < n) reject(new Error('client closed during the SOCKS handshake'));
        else resolve(b);
      }
      socket.on('readable', tryRead);
      socket.once('end', onEnd);
      tryRead();
    });
}

async function proxy(ctx: ProxyContext, o: Socks5Options, socket: net.Socket, ip: string, port: number): Promise<void> {
  const d = await routeOnDemand(() => ctx.state(), ctx.lookup, { namespace: o.namespace }, ip, port);
  const t: Tracked = ctx.tracker.open({
    direction: 'socks5',
    src: { ip: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, identity: o.identity },
    dst: { ip, port },
    ...(d.service ? { service: d.service.key } : {}),
    route: d.kind,
    security: d.kind === 'hbone' || d.kind === 'waypoint' ? 'mutual_tls' : 'none',
  });
  if (d.kind === 'refuse') {
    refuse(socket, REP.notAllowed);
    t.refuse(d.service ? 'no-endpoint' : 'registry-only', d.reason);
    return;
  }
  try {
    if (d.kind === 'passthrough') {
      const upstream = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: d.address, port: d.port, allowHalfOpen: true }, () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      });
      reply(socket, REP.ok);
      t.done(await splice(socket, upstream));
      return;
    }
    const target =
      d.kind === 'hbone'
        ? { address: d.address, port: d.port, authority: d.authority, expectedIdentities: [d.identity] }
        : {
            address: d.waypoint.address,
            port: ctx.ports.hbone,
            authority: d.authority,
            expectedIdentities: [d.waypoint.identity],
          };
    const tunnel = await ctx.pool.connect({
      source: await ctx.credentials(o.identity),
      target,
      forwardedFor: joinHostPort(socket.remoteAddress ?? '', socket.remotePort ?? 0),
    });
    reply(socket, REP.ok);
    await relayTracked(t, socket, tunnel, 'socket');
  } catch (err) {
    refuse(socket, REP.refused);
    t.refuse('upstream-failed', describeError(err));
  }
}
