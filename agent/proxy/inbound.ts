// Inbound HBONE (15008 in the destination pod's netns). The server has already verified the
// client chain and trust domain; here: the target must be this pod, L4 AuthorizationPolicy
// decides, then the agent connects to the app inside the pod's netns with IP_TRANSPARENT,
// bound to the client pod's IP, so the app sees the original client address.
import net from 'node:net';
import { describeError } from '../../core/errors.js';
import { acceptTunnel, rejectTunnel, splitHostPort, type HboneRequest } from '../../core/hbone/index.js';
import type { Peer, Tracked } from './connections.js';
import { relayTracked } from './relay-tracked.js';
import { podPeer, type PodContext, type ProxyContext } from './context.js';
import { connectToApp } from './app-connect.js';
import type { Workload } from '../../core/model/types.js';

export function handleHboneRequest(ctx: ProxyContext, pod: PodContext, req: HboneRequest): void {
  const target = splitHostPort(req.authority);
  const clientIp = req.remoteAddress.replace(/^::ffff:/, '');
  const state = ctx.state();
  const dst = podPeer(pod, target?.host ?? '', target?.port ?? 0);
  // The source's identity is its certificate's; its workload labels (metrics only) come from
  // the mesh view. A source this agent does not hold (on demand: another node's pod) is looked
  // up by IP while the connection goes on; the record opens once the labels are known.
  const open = (): Tracked =>
    ctx.tracker.open({
      direction: 'inbound',
      src: sourcePeer(ctx.state().workloadByIp(clientIp), clientIp, req.remotePort, req.peerIdentity),
      dst,
      route: 'hbone',
      security: 'mutual_tls',
    });
  const tracked = state.workloadByIp(clientIp) || !ctx.lookup ? open() : trackAfter(ctx.lookup(clientIp), open);
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
    await relayTracked(tracked, app, tunnel, 'tunnel');
  })();
}

function sourcePeer(w: Workload | undefined, ip: string, port: number, identity: string): Peer {
  return {
    ip,
    port,
    identity,
    ...(w ? { workload: w.name, namespace: w.namespace } : {}),
    ...(w?.labels.app ? { app: w.labels.app } : {}),
  };
}

/** How long an inbound record waits for the source's labels before it opens without them. */
const SOURCE_LABELS_WAIT_MS = 2000;

/** A record opened once `ready` settles (or the wait passes); done/refuse wait for it. */
function trackAfter(ready: Promise<void>, open: () => Tracked): Tracked {
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, SOURCE_LABELS_WAIT_MS);
    ready.then(resolve, resolve);
  });
  const tracked = bounded.then(() => {
    clearTimeout(timer);
    return open();
  });
  return {
    done: (r) => void tracked.then((t) => t.done(r)),
    refuse: (reason, detail) => void tracked.then((t) => t.refuse(reason, detail)),
    readLive: (read) => void tracked.then((t) => t.readLive(read)),
  };
}
