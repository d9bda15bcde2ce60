// Inbound HBONE (15008 in the destination pod's netns). The server has already verified the
// client chain and trust domain; here: the target must be this pod, L4 AuthorizationPolicy
// decides, then the agent connects to the app inside the pod's netns with IP_TRANSPARENT,
// bound to the client pod's IP, so the app sees the original client address.
import net from 'node:net';
import { describeError } from '../../core/errors.js';
import { acceptTunnel, rejectTunnel, relay, splitHostPort, type HboneRequest } from '../../core/hbone/index.js';
import type { Peer } from './connections.js';
import { podPeer, type PodContext, type ProxyContext } from './context.js';
import { connectToApp } from './app-connect.js';

export function handleHboneRequest(ctx: ProxyContext, pod: PodContext, req: HboneRequest): void {
  const target = splitHostPort(req.authority);
  const clientIp = req.remoteAddress.replace(/^::ffff:/, '');
  const state = ctx.state();
  const srcWorkload = state.workloadByIp(clientIp);
  const src: Peer = {
    ip: clientIp,
    port: req.remotePort,
    identity: req.peerIdentity,
    ...(srcWorkload ? { workload: srcWorkload.name, namespace: srcWorkload.namespace } : {}),
    ...(srcWorkload?.labels.app ? { app: srcWorkload.labels.app } : {}),
  };
  const dst = podPeer(pod, target?.host ?? '', target?.port ?? 0);
  const tracked = ctx.tracker.open({ direction: 'inbound', src, dst, route: 'hbone', security: 'mutual_tls' });
  const agentPorts = [ctx.ports.outbound, ctx.ports.inboundPlaintext, ctx.ports.hbone];
  if (!target || !pod.pod.ips.includes(target.host) || agentPorts.includes(target.port)) {
    rejectTunnel(
      req,
      400,
      `authority ${req.authority} is not an app address of pod ${pod.pod.namespace}/${pod.pod.name}`,
    );
    tracked.refuse('unknown-pod', `authority ${req.authority} is not served here`);
    return;
  }
  // Traffic relayed by the waypoint that serves this pod was authorized there, against the
  // original caller and with the L7 attributes the agent cannot see; here the peer is the
  // waypoint, whose identity the controller pinned in the workload's waypoint reference.
  const waypoint = state.workloadByIp(target.host)?.waypoint;
  const decision =
    waypoint && req.peerIdentity === waypoint.identity
      ? {
          allowed: true,
          reason: `authorized by waypoint ${waypoint.namespace}/${waypoint.name}`,
          audited: [] as readonly string[],
          policy: undefined,
        }
      : state.authz.evaluate(
          pod.workload,
          {
            source: { principal: req.peerIdentity, ip: clientIp, port: req.remotePort },
            destination: { ip: target.host, port: target.port },
          },
          'l4',
        );
  if (decision.audited.length > 0)
    ctx.log.info('authz audit', { policies: decision.audited, src: req.peerIdentity, dst: req.authority });
  if (!decision.allowed) {
    // CONTRACT: a denied connection is closed at once; HBONE answers 401 to the CONNECT.
    rejectTunnel(req, 401, decision.reason);
    tracked.refuse('authz-denied', `${decision.reason}${decision.policy ? ` (${decision.policy})` : ''}`);
    return;
  }
  void (async () => {
    let app: net.Socket;
    try {
      app = await connectToApp(ctx, pod, clientIp, target.host, target.port);
    } catch (err) {
      rejectTunnel(req, 503, describeError(err));
      tracked.refuse('upstream-failed', describeError(err));
      return;
    }
    if (req.stream.destroyed) {
      app.destroy();
      tracked.done({ fromClient: 0, toClient: 0, reason: 'client-closed' });
      return;
    }
    const tunnel = acceptTunnel(req);
    const r = await relay(app, tunnel);
    tracked.done({ fromClient: r.bytesFromTunnel, toClient: r.bytesToTunnel, reason: r.reason });
  })();
}
