// Outbound (15001 in the client pod's netns): the app's connection was REDIRECTed here.
// Original destination → Service VIP → endpoint (or waypoint) → HBONE from the pod's netns;
// a destination outside the mesh → plain TCP from the pod's netns (a ServiceEntry endpoint
// name resolved by the agent first, external-dns.ts); REGISTRY_ONLY refuses unknown
// destinations. Agent sockets carry AGENT_MARK so they are not captured again.
import type net from 'node:net';
import { isIP } from 'node:net';
import { describeError } from '../../core/errors.js';
import { joinHostPort } from '../../core/hbone/index.js';
import { relayTracked } from './relay-tracked.js';
import { routeOnDemand, type OutboundDecision } from '../state/mesh-state.js';
import type { Peer, Tracked } from './connections.js';
import { podPeer, type PodContext, type ProxyContext } from './context.js';
import type { OriginalDst } from './pod-net.js';
import { splice } from '../../core/net/relay.js';
import { cachingResolver, dialAddress } from './external-dns.js';

const nodeResolver = cachingResolver();

export function handleOutbound(ctx: ProxyContext, pod: PodContext, socket: net.Socket): void {
  socket.on('error', () => {
    /* reported through relay/splice */
  });
  const src = podPeer(pod, socket.remoteAddress ?? '', socket.remotePort ?? 0);
  let dst: OriginalDst | undefined;
  try {
    dst = ctx.net.originalDst(socket);
  } catch (err) {
    ctx.log.warn('outbound: cannot read the original destination', { err: describeError(err) });
    socket.destroy();
    return;
  }
  if (!dst) {
    const t = ctx.tracker.open({
      direction: 'outbound',
      src,
      dst: { ip: socket.localAddress ?? '', port: socket.localPort ?? 0 },
      route: 'none',
      security: 'none',
    });
    t.refuse('not-redirected', 'connection made to the outbound port directly');
    socket.destroy();
    return;
  }
  const to = dst;
  const route = (decision: OutboundDecision): void => {
    const tracked = ctx.tracker.open({
      direction: 'outbound',
      src,
      dst: dstPeer(decision, to.address, to.port),
      ...(decision.service ? { service: decision.service.key } : {}),
      route: decision.kind,
      security: decision.kind === 'hbone' || decision.kind === 'waypoint' ? 'mutual_tls' : 'none',
    });
    void proxy(ctx, pod, socket, decision, tracked);
  };
  // A destination the agent does not hold yet is looked up on demand (the connection waits).
  if (ctx.lookup && !ctx.state().knows(dst.address)) {
    void routeOnDemand(
      () => ctx.state(),
      (a) => ctx.lookup!(a),
      pod.workload,
      dst.address,
      dst.port,
    ).then(route);
  } else {
    route(ctx.state().routeOutbound(pod.workload, dst.address, dst.port));
  }
}

function dstPeer(d: OutboundDecision, ip: string, port: number): Peer {
  if (d.kind === 'refuse') return { ip, port };
  const w = d.workload;
  const addr =
    d.kind === 'waypoint'
      ? { ip, port }
      : d.kind === 'hbone'
        ? splitAuthority(d.authority, ip, port)
        : { ip: d.address, port: d.port };
  if (!w) return d.kind === 'waypoint' ? { ...addr, identity: d.waypoint.identity } : addr;
  return {
    ...addr,
    identity: w.identity,
    workload: w.name,
    namespace: w.namespace,
    ...(w.labels.app ? { app: w.labels.app } : {}),
    ...(w.labels.version ? { version: w.labels.version } : {}),
  };
}

function splitAuthority(authority: string, ip: string, port: number): { ip: string; port: number } {
  const i = authority.lastIndexOf(':');
  const p = Number(authority.slice(i + 1));
  return Number.isInteger(p) ? { ip: authority.slice(0, i).replace(/^\[|\]$/g, ''), port: p } : { ip, port };
}

async function proxy(
  ctx: ProxyContext,
  pod: PodContext,
  socket: net.Socket,
  d: OutboundDecision,
  t: Tracked,
): Promise<void> {
  const netns = pod.pod.netnsPath;
  if (d.kind === 'refuse') {
    t.refuse(d.service ? 'no-endpoint' : 'registry-only', d.reason);
    socket.resetAndDestroy();
    return;
  }
  if (d.kind === 'passthrough') {
    let upstream: net.Socket;
    try {
      const ip = await dialAddress(d.address, ctx.resolveHost ?? nodeResolver);
      upstream = await ctx.net.dial(netns, ip, d.port);
    } catch (err) {
      t.refuse('upstream-failed', describeError(err));
      socket.resetAndDestroy();
      return;
    }
    const r = await splice(socket, upstream);
    t.done(r);
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
  let tunnel;
  try {
    const source = await ctx.credentials(pod.identity);
    tunnel = await ctx.pool.connect({
      source,
      target,
      forwardedFor: joinHostPort(socket.remoteAddress ?? '', socket.remotePort ?? 0),
      via: { key: netns, createSocket: () => ctx.net.podSocket(netns, isIP(target.address) === 6 ? 6 : 4) },
    });
  } catch (err) {
    t.refuse('upstream-failed', describeError(err));
    socket.resetAndDestroy();
    return;
  }
  if (socket.destroyed) {
    tunnel.destroy();
    t.done({ fromClient: 0, toClient: 0, reason: 'client-closed' });
    return;
  }
  await relayTracked(t, socket, tunnel, 'socket');
}
