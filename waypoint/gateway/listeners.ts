// The gateway's front door: one TCP listener per Gateway server port. A plaintext HTTP port
// goes to the waypoint's HTTP handler (the shared L7 pipeline: authorization, routes,
// filters, retries, the router over HBONE); a TLS port reads the ClientHello's SNI first and
// either terminates TLS with the chosen server's certificate (then HTTP, or TCP for a `TLS`
// server) or, for PASSTHROUGH, forwards the untouched bytes to the route its SNI selects; a
// TCP port forwards to its route. Every upstream hop is HBONE with the gateway's identity.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { GatewayServer, VirtualHost } from '../../core/model/l7.js';
import { relay } from '../../core/net/relay.js';
import { handedHttp1Server, handedHttp2Server } from '../handed-http.js';
import { createRequestHandler, type HandlerDeps } from '../http-handler.js';
import type { Pipeline } from '../pipeline.js';
import { selectL4Route } from '../route/l4-routes.js';
import { pickDestination } from '../route/route-table.js';
import { TUNNEL_INFO, type TunnelInfo } from '../tunnel-info.js';
import { TunnelSocket } from '../tunnel-socket.js';
import type { TransportFactory } from '../upstream/router.js';
import type { GatewayCredentials } from './credentials.js';
import type { GatewayTcpMetrics } from './gateway-reporter.js';
import { serverAdmitsName, serverForSni, virtualHostFor, type PortPlan } from './gateway-config.js';
import { httpsRedirectFor } from './redirect.js';
import { peekClientHello } from '../../core/tls/peek.js';

export interface GatewayListenerOptions extends HandlerDeps {
  readonly transports: TransportFactory;
  readonly credentials: GatewayCredentials;
  readonly log: Logger;
  /** Address the server ports listen on (`::` takes IPv4 too). */
  readonly host: string;
  /** A client must send its ClientHello within this long. */
  readonly helloTimeoutMs?: number;
  /** Slow or idle HTTP clients are cut after this long without a complete request head. */
  readonly headersTimeoutMs?: number;
  /** Istio's TCP metrics of the connections TCP and PASSTHROUGH servers forward. */
  readonly tcpMetrics?: GatewayTcpMetrics;
}

interface Conn {
  readonly port: number;
  readonly clientIp: string;
  readonly clientPort: number;
}

const unmapped = (ip: string | undefined): string => (ip?.startsWith('::ffff:') ? ip.slice(7) : (ip ?? ''));

/** `host:port`, `[v6]:port` or `host` → the lower-cased host name without the port. */
export function hostnameOf(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(0, a.indexOf(']') + 1);
  const colon = a.indexOf(':');
  return (colon >= 0 ? a.slice(0, colon) : a).replace(/\.$/, '');
}

export class GatewayListeners {
  private readonly plans = new Map<number, PortPlan>();
  private readonly listeners = new Map<number, net.Server>();
  private readonly open = new Set<Duplex>();
  private readonly http1: http.Server;
  private readonly http2: http2.Http2Server;
  private readonly handler: ReturnType<typeof createRequestHandler>;
  private readonly facts = new WeakMap<object, Conn & { scheme: 'http' | 'https' }>();

  constructor(private readonly o: GatewayListenerOptions) {
    this.handler = createRequestHandler(o);
    const onRequest = (
      req: http.IncomingMessage | http2.Http2ServerRequest,
      res: http.ServerResponse | http2.Http2ServerResponse,
    ): void => this.onRequest(req, res);
    this.http1 = handedHttp1Server(onRequest, o.headersTimeoutMs);
    this.http2 = handedHttp2Server(onRequest);
    this.http2.on('sessionError', (err) => o.log.debug('downstream h2 session error', { err: describeError(err) }));
    this.http2.on('session', (session) => {
      const facts = this.pendingFacts;
      if (facts) this.facts.set(session, facts);
    });
  }

  private pendingFacts: (Conn & { scheme: 'http' | 'https' }) | undefined;

  /** The ports listening now. */
  ports(): number[] {
    return [...this.listeners.keys()].sort((a, b) => a - b);
  }

  /** Serves these plans: opens new ports, closes ports no longer served. Returns problems (ports that failed to bind). */
  async apply(plans: readonly PortPlan[]): Promise<string[]> {
    this.plans.clear();
    for (const p of plans) this.plans.set(p.port, p);
    const problems: string[] = [];
    for (const [port, server] of this.listeners) {
      if (this.plans.has(port)) continue;
      this.listeners.delete(port);
      server.close();
      this.o.log.info('gateway port closed', { port });
    }
    for (const p of plans) {
      if (this.listeners.has(p.port)) continue;
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
        this.onConnection(p.port, socket),
      );
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: this.o.host, port: p.port }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (err) =>
          this.o.log.error('gateway listener error', { port: p.port, err: describeError(err) }),
        );
        this.listeners.set(p.port, server);
        this.o.log.info('gateway port listening', { port: p.port, kind: p.kind });
      } catch (err) {
        problems.push(`gateway port ${p.port}: ${describeError(err)}`);
        this.o.log.error('gateway port not opened', { port: p.port, err: describeError(err) });
      }
    }
    return problems;
  }

  async close(): Promise<void> {
    for (const server of this.listeners.values()) server.close();
    this.listeners.clear();
    this.http2.close();
    this.http1.close();
    this.http1.closeAllConnections();
    for (const d of this.open) d.destroy();
  }

  private track<T extends Duplex>(d: T): T {
    this.open.add(d);
    d.once('close', () => this.open.delete(d));
    return d;
  }

  private onConnection(port: number, socket: net.Socket): void {
    this.track(socket);
    socket.on('error', (err) => this.o.log.debug('gateway client error', { port, err: describeError(err) }));
    const plan = this.plans.get(port);
    const pipe = this.o.pipeline();
    if (!plan || !pipe) {
      socket.destroy();
      return;
    }
    const conn: Conn = {
      port,
      clientIp: unmapped(socket.remoteAddress),
      clientPort: socket.remotePort ?? 0,
    };
    if (plan.kind === 'http') {
      this.serveHttp(socket, conn, 'http', false);
      return;
    }
    if (plan.kind === 'tcp') {
      const vhost = pipe.config.virtualHosts.find((v) => v.port === port);
      void this.forwardTcp(pipe, vhost, socket, conn, undefined);
      return;
    }
    this.peekHello(socket).then(
      (head) => this.onHello(plan, socket, conn, head),
      (err: unknown) => {
        this.o.log.debug('no TLS ClientHello', { port, err: describeError(err) });
        socket.destroy();
      },
    );
  }

  /** The ClientHello's SNI, peeked: the bytes stay in the socket for whoever reads it next. */
  private async peekHello(socket: net.Socket): Promise<{ sni: string | undefined }> {
    const r = await peekClientHello(socket, { timeoutMs: this.o.helloTimeoutMs ?? 10_000 });
    if (r.kind === 'client-hello') return { sni: r.serverName };
    throw new Error(r.kind === 'invalid' ? `bad ClientHello: ${r.reason}` : `no TLS ClientHello (${r.kind})`);
  }

  private onHello(plan: PortPlan, socket: net.Socket, conn: Conn, hello: { sni: string | undefined }): void {
    const pipe = this.o.pipeline();
    const server = serverForSni(plan.servers, hello.sni);
    if (!pipe || !server) {
      this.o.log.debug('no gateway server for SNI', { port: conn.port, sni: hello.sni });
      socket.destroy();
      return;
    }
    const mode = server.tls?.mode ?? 'PASSTHROUGH';
    if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
      const vhost = hello.sni ? virtualHostFor(pipe.config.virtualHosts, conn.port, hello.sni) : undefined;
      void this.forwardTcp(pipe, vhost, socket, conn, hello.sni);
      return;
    }
    const creds = this.o.credentials.get(server);
    if (!creds) {
      this.o.log.warn('TLS handshake refused: no credential for the server', {
        port: conn.port,
        sni: hello.sni,
        problem: this.o.credentials.problem(server) ?? 'loading',
      });
      socket.destroy();
      return;
    }
    // A Duplex (not the net.Socket) so the TLS layer reads the peeked bytes back from the socket.
    const raw = this.track(new TunnelSocket(socket));
    const secure = this.track(
      new tls.TLSSocket(raw, {
        isServer: true,
        secureContext: creds.context,
        requestCert: creds.mutual,
        rejectUnauthorized: false, // checked below: only tls.Server checks it for its own sockets
        ALPNProtocols: server.protocol === 'TLS' ? [] : ['h2', 'http/1.1'],
      }),
    );
    secure.on('error', (err) =>
      this.o.log.debug('gateway TLS client error', { port: conn.port, err: describeError(err) }),
    );
    const deadline = setTimeout(() => secure.destroy(), this.o.helloTimeoutMs ?? 10_000);
    secure.once('close', () => clearTimeout(deadline));
    secure.once('secure', () => {
      clearTimeout(deadline);
      if (creds.mutual) {
        const refused = clientCertificateError(secure);
        if (refused) {
          this.o.log.debug('gateway client certificate refused', { port: conn.port, reason: refused });
          secure.destroy();
          return;
        }
      }
      this.onSecure(server, secure, conn);
    });
  }

  private onSecure(server: GatewayServer, s: tls.TLSSocket, conn: Conn): void {
    const pipe = this.o.pipeline();
    if (!pipe) {
      s.destroy();
      return;
    }
    if (server.protocol === 'TLS') {
      const sni = typeof s.servername === 'string' ? s.servername : undefined;
      const vhost = sni
        ? virtualHostFor(pipe.config.virtualHosts, server.port, sni)
        : pipe.config.virtualHosts.find((v) => v.port === server.port);
      void this.forwardTcp(pipe, vhost, s, conn, sni);
      return;
    }
    this.serveHttp(s, conn, 'https', s.alpnProtocol === 'h2');
  }

  private serveHttp(stream: Duplex, conn: Conn, scheme: 'http' | 'https', h2: boolean): void {
    const facts = { ...conn, scheme };
    if (h2) {
      this.pendingFacts = facts;
      try {
        this.http2.emit('connection', stream);
      } finally {
        this.pendingFacts = undefined;
      }
      stream.resume();
      return;
    }
    this.facts.set(stream, facts);
    this.http1.emit('connection', stream);
    stream.resume(); // accepted paused (pauseOnConnect)
  }

  /**
   * One request: the virtual host its Host names on this port (the port itself is ignored,
   * as Istio's gateways do), or `httpsRedirect`, then the shared handler with the facts
   * the handler reads set for this request (it reads them before its first await).
   */
  private onRequest(
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): void {
    const holder: object = 'stream' in req ? req.stream.session! : req.socket;
    const facts = this.facts.get(holder) ?? (req.socket ? this.facts.get(req.socket) : undefined);
    const pipe = this.o.pipeline();
    if (!facts || !pipe) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('no config yet');
      return;
    }
    const authority = String(req.headers[':authority'] ?? req.headers.host ?? '');
    const hostname = hostnameOf(authority);
    const plan = this.plans.get(facts.port);
    if (facts.scheme === 'http' && plan) {
      const location = httpsRedirectFor(plan.servers, hostname, req.url ?? '/');
      if (location) {
        req.resume();
        res.writeHead(301, { location, 'content-length': '0' });
        res.end();
        return;
      }
    }
    const vhost = this.admitted(plan, hostname)
      ? virtualHostFor(pipe.config.virtualHosts, facts.port, hostname)
      : undefined;
    const info: TunnelInfo = {
      peerIdentity: '',
      clientIp: facts.clientIp,
      clientPort: facts.clientPort,
      sourceNamespace: undefined,
      authority,
      targetPort: facts.port,
      vhostName: vhost?.name ?? '',
      hostSelected: true,
      scheme: facts.scheme,
    };
    Object.defineProperty(holder, TUNNEL_INFO, { value: info, configurable: true, writable: true });
    this.handler(req, res);
  }

  /** A Host no server of the port admits gets no route (404), even when a VirtualService names it. */
  private admitted(plan: PortPlan | undefined, hostname: string): boolean {
    return plan?.servers.some((s) => serverAdmitsName(s, hostname)) ?? false;
  }

  /** TCP (or TLS passed through) to the route of `vhost`: a weighted destination, one endpoint, gateway policies at L4. */
  private async forwardTcp(
    pipe: Pipeline,
    vhost: VirtualHost | undefined,
    downstream: Duplex,
    conn: Conn,
    sni: string | undefined,
  ): Promise<void> {
    // The VirtualService's tls (by SNI) or tcp routes; else the first route of the host.
    const selected = vhost ? selectL4Route(vhost, { port: conn.port, ...(sni ? { serverName: sni } : {}) }) : undefined;
    const compiled = vhost ? pipe.table.named(vhost.name) : undefined;
    const route = compiled?.routes[0];
    const destination = selected?.destination ?? (route ? pickDestination(route) : undefined);
    const cluster = destination ? pipe.clusters.get(destination.cluster) : undefined;
    if (!cluster) {
      this.o.log.debug('gateway tcp: no route', { port: conn.port, sni, vhost: vhost?.name });
      downstream.destroy();
      return;
    }
    const picked = cluster.pick({ random: Math.random });
    if (typeof picked === 'string') {
      this.o.log.debug('gateway tcp: no healthy endpoint', { port: conn.port, cluster: cluster.config.name });
      downstream.destroy();
      return;
    }
    if (pipe.authz) {
      const decision = pipe.authz.authorizeTcp({
        cluster: cluster.config,
        endpoint: picked.endpoint,
        port: conn.port,
        source: { ip: conn.clientIp, port: conn.clientPort, principal: '', namespace: undefined },
      });
      if (!decision.allowed) {
        this.o.telemetry.tcpRefused();
        this.o.log.debug('gateway tcp connection denied', { port: conn.port, policy: decision.policy });
        downstream.destroy();
        return;
      }
    }
    let upstream: Duplex;
    try {
      upstream = await this.o.transports.dial(cluster.config, picked);
    } catch (err) {
      this.o.log.warn('gateway tcp: upstream dial failed', { cluster: cluster.config.name, err: describeError(err) });
      downstream.destroy();
      return;
    }
    this.track(upstream);
    const series = this.o.tcpMetrics?.opened(
      cluster.config,
      picked.endpoint,
      pipe.workloadsByIp.get(picked.endpoint.address),
    );
    void relay(downstream, upstream).then((r) => {
      // From the client: received; to the client: sent (as the agent counts them).
      series?.received(r.bytesToTunnel);
      series?.sent(r.bytesFromTunnel);
      series?.closed();
    });
    downstream.resume(); // accepted paused (pauseOnConnect, or paused after the ClientHello)
  }
}

/**
 * Why a client certificate is not accepted (MUTUAL), or undefined when it chains to the
 * server's client CA. A TLSSocket made by hand is not checked by Node (only tls.Server's
 * own sockets are), so this reads the handshake's verification result as tls.Server does.
 */
function clientCertificateError(s: tls.TLSSocket): string | undefined {
  const handle = (s as unknown as { _handle?: { verifyError(): Error | null } })._handle;
  if (!handle) return 'connection closed';
  if (!s.getPeerX509Certificate()) return 'no client certificate';
  const err = handle.verifyError();
  return err ? ((err as NodeJS.ErrnoException).code ?? err.message) : undefined;
}
