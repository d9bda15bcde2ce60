// Inbound plaintext (15006 in the destination pod's netns): TCP that reached the pod without
// HBONE (a client outside the mesh). PeerAuthentication decides: STRICT refuses (counted),
// PERMISSIVE lets it through after L4 authz (no principal: only ip/port rules can match).
import type net from 'node:net';
import { describeError } from '../../core/errors.js';
import type { Peer } from './connections.js';
import { podPeer, type PodContext, type ProxyContext } from './context.js';
import type { OriginalDst } from './pod-net.js';
import { connectToApp } from './app-connect.js';
import { splice } from '../../core/net/relay.js';

export function handlePlaintextInbound(ctx: ProxyContext, pod: PodContext, socket: net.Socket): void {
  socket.on('error', () => {
    /* reported through splice */
  });
  const clientIp = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const state = ctx.state();
  const srcWorkload = state.workloadByIp(clientIp);
  const src: Peer = {
    ip: clientIp,
    port: socket.remotePort ?? 0,
    ...(srcWorkload ? { workload: srcWorkload.name, namespace: srcWorkload.namespace } : {}),
  };
  let dst: OriginalDst | undefined;
  try {
    dst = ctx.net.originalDst(socket);
  } catch (err) {
    ctx.log.warn('inbound plaintext: cannot read the original destination', { err: describeError(err) });
    socket.destroy();
    return;
  }
  const tracked = ctx.tracker.open({
    direction: 'inbound-plaintext',
    src,
    dst: podPeer(pod, dst?.address ?? socket.localAddress ?? '', dst?.port ?? 0),
    route: 'passthrough',
    security: 'none',
  });
  if (!dst) {
    tracked.refuse('not-redirected', 'connection made to the inbound plaintext port directly');
    socket.resetAndDestroy();
    return;
  }
  const mode = state.mtlsMode(pod.workload, dst.port);
  if (mode === 'STRICT') {
    tracked.refuse('strict-mtls', `plaintext to ${dst.address}:${dst.port} refused: PeerAuthentication STRICT`);
    socket.resetAndDestroy();
    return;
  }
  const decision = state.authz.evaluate(
    pod.workload,
    {
      source: { ip: clientIp, port: socket.remotePort ?? 0 },
      destination: { ip: dst.address, port: dst.port },
    },
    'l4',
  );
  if (!decision.allowed) {
    tracked.refuse('authz-denied', `${decision.reason}${decision.policy ? ` (${decision.policy})` : ''}`);
    socket.resetAndDestroy();
    return;
  }
  const target = dst;
  void (async () => {
    let app: net.Socket;
    try {
      app = await connectToApp(ctx, pod, clientIp, target.address, target.port);
    } catch (err) {
      tracked.refuse('upstream-failed', describeError(err));
      socket.resetAndDestroy();
      return;
    }
    tracked.done(await splice(socket, app));
  })();
}
