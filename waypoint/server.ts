// The waypoint's front door: an HBONE server (its own identity) whose CONNECT streams carry
// HTTP/1.1, HTTP/2 (h2c) or gRPC for a service VIP:port. The protocol comes from the service
// port (appProtocol or name); for `unknown` the first bytes decide; plain TCP is forwarded
// at L4 to an endpoint of the service, chosen per connection by the service's VirtualService
// `tcp` routes, or `tls` routes on the SNI of the ClientHello (read, not terminated).
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  acceptTunnel,
  createHboneServer,
  rejectTunnel,
  splitHostPort,
  type HboneRequest,
  type HboneServer,
} from '../core/hbone/index.js';
import { describeError } from '../core/errors.js';
import { relay } from '../core/net/relay.js';
import type { Credentials } from '../core/identity/types.js';
import type { Logger } from '../core/log.js';
import type { PortProtocol } from '../core/model/types.js';
import type { HandlerDeps } from './http-handler.js';
import { createRequestHandler } from './http-handler.js';
import { handedHttp2Server } from './handed-http.js';
import { Http1Server } from './http1/server.js';
import type { Pipeline } from './pipeline.js';
import { tunnelSource, verifiedWorkload } from './source-identity.js';
import { routesBySni, selectL4Route } from './route/l4-routes.js';
import { peekClientHello } from '../core/tls/peek.js';
import { attachTunnelInfo, type TunnelInfo } from './tunnel-info.js';
import { asHttpSocket } from './tunnel-socket.js';
import { clusterName, type Cluster, type VirtualHost } from '../core/model/l7.js';
import type { EndpointRuntime } from './upstream/balancer.js';
import type { TransportFactory } from './upstream/router.js';

export interface WaypointServerOptions extends HandlerDeps {
  readonly credentials: () => Credentials;
  readonly trustDomain: string;
  readonly transports: TransportFactory;
  readonly log: Logger;
  /** Slow or idle downstream clients are cut after this long without a complete request. */
  readonly headersTimeoutMs?: number;
}

type Wire = 'http1' | 'http2' | 'tcp';

function isL4(protocol: PortProtocol): boolean {
  return protocol === 'tcp' || protocol === 'tls' || protocol === 'https' || protocol === 'mongo';
}

/** HTTP ports take HTTP/1.1 and HTTP/2 alike (Envoy's codec AUTO); unknown ports may be TCP. */
async function wireFor(protocol: PortProtocol, stream: Duplex): Promise<Wire> {
  if (isL4(protocol)) return 'tcp';
  const sniffed = await sniff(stream);
  if (sniffed === 'tcp' && protocol !== 'unknown') return protocol === 'http' ? 'http1' : 'http2';
  return sniffed;
}

/** Reads the first bytes without consuming them: HTTP/2 preface, an HTTP/1 request line, or TCP. */
function sniff(stream: Duplex): Promise<Wire> {
  return new Promise((resolve) => {
    const onReadable = (): void => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return;
      stream.off('readable', onReadable);
      stream.unshift(chunk);
      const head = chunk.subarray(0, 24).toString('latin1');
      if (head.startsWith('PRI * HTTP/2.0')) resolve('http2');
      else if (/^[A-Z]{3,10} \S/.test(head)) resolve('http1');
      else resolve('tcp');
    };
    stream.on('readable', onReadable);
    stream.once('end', () => resolve('tcp'));
  });
}

export class WaypointServer {
  private readonly hbone: HboneServer;
  private readonly http1: Http1Server;
  private readonly http2: http2.Http2Server;
  private pendingInfo: TunnelInfo | undefined;

  constructor(private readonly o: WaypointServerOptions) {
    const handler = createRequestHandler(o);
    // HTTP/1.1 on tunnels: the waypoint's own server (bounded parser, node:http's request and
    // response shape); gateways keep node:http (handed-http.ts).
    this.http1 = new Http1Server(
      handler,
      o.headersTimeoutMs !== undefined ? { headersTimeoutMs: o.headersTimeoutMs } : {},
    );
    this.http2 = handedHttp2Server(handler);
    this.http2.on('sessionError', (err) => o.log.debug('downstream h2 session error', { err: describeError(err) }));
    // Node wraps a non-socket stream in its own socket object for HTTP/2, so the tunnel facts
    // ride on the session instead; 'session' fires synchronously inside emit('connection').
    this.http2.on('session', (session) => {
      if (this.pendingInfo) attachTunnelInfo(session, this.pendingInfo);
    });
    this.hbone = createHboneServer({
      credentials: o.credentials,
      trustDomain: o.trustDomain,
      log: o.log,
      handler: (req) => {
        this.onTunnel(req).catch((err: unknown) =>
          o.log.warn('tunnel failed', { err: describeError(err), authority: req.authority }),
        );
      },
    });
  }

  listen(opts: { host?: string; port: number }): ReturnType<HboneServer['listen']> {
    return this.hbone.listen(opts);
  }

  /**
   * Graceful: no new sessions, GOAWAY to the open ones (agents open new ones elsewhere), HTTP/1
   * connections in tunnels end with their next response (`connection: close`), those still idle
   * after a second are closed; what is still open after `drainMs` is reset.
   */
  async close(drainMs = 5000): Promise<void> {
    // Draining: a keep-alive connection ends with its next response (`connection: close`; the
    // client closes it, no race with its next request).
    this.http1.drain();
    const drained = this.hbone.close();
    this.http2.close();
    const idle = setTimeout(() => this.http1.closeIdleConnections(), Math.min(1000, drainMs / 2));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      }),
    ]);
    clearTimeout(timer);
    clearTimeout(idle);
    this.http1.closeIdleConnections();
    await this.hbone.close({ force: true });
    this.http1.closeAllConnections();
  }

  stats(): ReturnType<HboneServer['stats']> {
    return this.hbone.stats();
  }

  private async onTunnel(req: HboneRequest): Promise<void> {
    const pipe: Pipeline | undefined = this.o.pipeline();
    const target = splitHostPort(req.authority);
    if (!pipe || !target) {
      rejectTunnel(req, pipe ? 400 : 503, pipe ? `bad authority ${req.authority}` : 'no config yet');
      return;
    }
    // The service is the tunnel's target: every request on this tunnel is for it.
    const vhost = pipe.table.findVirtualHost(req.authority, target.port);
    if (!vhost) {
      rejectTunnel(req, 503, `no service behind ${req.authority} in this waypoint's namespace`);
      return;
    }
    const source = tunnelSource({
      peerIdentity: req.peerIdentity,
      remoteAddress: req.remoteAddress,
      remotePort: req.remotePort,
      forwarded: req.headers.forwarded,
      workloadsByIp: pipe.workloadsByIp,
    });
    if (source.forwardedRejected) {
      this.o.telemetry.forwardedIgnored(source.forwardedRejected);
      this.o.log.debug('forwarded address not believed', {
        reason: source.forwardedRejected,
        peer: req.peerIdentity,
        forwarded: req.headers.forwarded,
      });
    }
    const info: TunnelInfo = {
      peerIdentity: req.peerIdentity,
      clientIp: source.ip,
      clientPort: source.port,
      sourceNamespace: source.namespace,
      authority: req.authority,
      targetPort: target.port,
      vhostName: vhost.vhost.name,
    };
    // Declared TCP: authorised before the tunnel is accepted, so a refusal is a CONNECT status;
    // routing by SNI needs the ClientHello, so there the tunnel is accepted first.
    if (isL4(vhost.vhost.protocol) && routesBySni(vhost.vhost)) {
      await this.routeTcp(pipe, vhost.vhost, info, target.host, this.accept(req));
      return;
    }
    if (isL4(vhost.vhost.protocol)) {
      const picked = this.pickTcpEndpoint(pipe, vhost.vhost, info, target.host, undefined);
      if (picked.kind === 'refused') {
        rejectTunnel(req, picked.status, picked.why);
        return;
      }
      await this.forwardTcp(picked, this.accept(req));
      return;
    }
    const stream = this.acceptStream(req);
    attachTunnelInfo(stream, info);
    const wire = await wireFor(vhost.vhost.protocol, stream);
    if (wire === 'http1') this.http1.handle(stream);
    else if (wire === 'http2') {
      this.pendingInfo = info;
      try {
        this.http2.emit('connection', asHttpSocket(stream));
      } finally {
        this.pendingInfo = undefined;
      }
    } else await this.routeTcp(pipe, vhost.vhost, info, target.host, asHttpSocket(stream));
  }

  /** An accepted tunnel carrying TCP: the ClientHello's SNI when `tls` routes need it, then route and forward. */
  private async routeTcp(
    pipe: Pipeline,
    vhost: VirtualHost,
    info: TunnelInfo,
    destinationIp: string,
    stream: Duplex,
  ): Promise<void> {
    let serverName: string | undefined;
    if (routesBySni(vhost)) {
      const hello = await peekClientHello(stream);
      if (hello.kind === 'closed') {
        stream.destroy();
        return;
      }
      // No hello (plaintext, a malformed one, or silence): tcp routes and the service's default still apply.
      if (hello.kind === 'client-hello') serverName = hello.serverName;
      else this.o.log.debug('no server name for tls routes', { service: vhost.name, result: hello.kind });
    }
    const picked = this.pickTcpEndpoint(pipe, vhost, info, destinationIp, serverName);
    if (picked.kind === 'refused') stream.destroy();
    else await this.forwardTcp(picked, stream);
  }

  /**
   * The accepted tunnel as a socket. It always has an error listener: a peer whose HBONE
   * session dies (e.g. ended by the server for protocol errors) errors every tunnel on it,
   * including ones still waiting for their first bytes, before any HTTP server listens.
   */
  private accept(req: HboneRequest): Duplex {
    return asHttpSocket(this.acceptStream(req));
  }

  /** The accepted tunnel stream as it is (the waypoint's HTTP/1 server writes Buffers only). */
  private acceptStream(req: HboneRequest): Duplex {
    const stream = acceptTunnel(req);
    stream.on('error', (err) =>
      this.o.log.debug('downstream tunnel error', { err: describeError(err), peer: req.peerIdentity }),
    );
    return stream;
  }

  /**
   * L4 through the waypoint: the destination of the first matching `tls`/`tcp` route (weighted,
   * per connection), else the service's default cluster; one endpoint of it; then the L4 form
   * of the policies that select that endpoint, before a byte moves.
   */
  private pickTcpEndpoint(
    pipe: Pipeline,
    vhost: VirtualHost,
    info: TunnelInfo,
    destinationIp: string,
    serverName: string | undefined,
  ): TcpPick {
    const vhostName = vhost.name;
    const selection = selectL4Route(vhost, {
      port: info.targetPort,
      destinationIp,
      sourceLabels: verifiedWorkload(pipe.workloadsByIp, info.clientIp, info.peerIdentity)?.labels,
      sourceNamespace: info.sourceNamespace,
      serverName,
    });
    const clusterKey =
      selection?.destination.cluster ??
      vhost.routes[0]?.destinations?.[0]?.cluster ??
      clusterName(vhost.host, vhost.port);
    const cluster = pipe.clusters.get(clusterKey);
    if (!cluster) return { kind: 'refused', status: 503, why: `no cluster ${clusterKey} for ${vhostName}` };
    const picked = cluster.pick({ random: Math.random });
    if (typeof picked === 'string')
      return { kind: 'refused', status: 503, why: `no healthy endpoint in ${clusterKey} for ${vhostName}` };
    if (pipe.authz) {
      const decision = pipe.authz.authorizeTcp({
        cluster: cluster.config,
        endpoint: picked.endpoint,
        port: info.targetPort,
        source: {
          ip: info.clientIp,
          port: info.clientPort,
          principal: info.peerIdentity,
          namespace: info.sourceNamespace,
        },
      });
      if (!decision.allowed) {
        this.o.telemetry.tcpRefused();
        this.o.log.debug('tcp connection denied', {
          peer: info.peerIdentity,
          service: vhostName,
          reason: decision.reason,
          policy: decision.policy,
        });
        return { kind: 'refused', status: 403, why: 'RBAC: access denied' };
      }
    }
    return { kind: 'endpoint', cluster: cluster.config, endpoint: picked };
  }

  private async forwardTcp(picked: Extract<TcpPick, { kind: 'endpoint' }>, downstream: Duplex): Promise<void> {
    let upstream: Duplex;
    try {
      upstream = await this.o.transports.dial(picked.cluster, picked.endpoint);
    } catch (err) {
      downstream.destroy();
      throw err;
    }
    // core's relay keeps TCP semantics (half-close, resets); stream.pipeline made a reset a clean close.
    void relay(downstream, upstream);
  }
}

type TcpPick =
  | { kind: 'endpoint'; cluster: Cluster; endpoint: EndpointRuntime }
  | { kind: 'refused'; status: 403 | 503; why: string };
