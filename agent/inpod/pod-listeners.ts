// One enrolled pod's listeners, all inside its netns: 15001 outbound, 15006 inbound
// plaintext, 15008 HBONE (presenting the pod's own certificate), on IPv4 and, for a
// dual-stack pod, IPv6; and the DNS proxy on 15053 (UDP and TCP on the pod's loopback). Closing releases every socket and the cached netns fd (a held fd
// would keep a deleted netns alive).
import type net from 'node:net';
import { createHboneServer, type HboneRequest, type HboneServer } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import type { Logger } from '../../core/log.js';
import { PodDns } from '../dns/pod-dns.js';
import type { DnsClient, DnsProxy } from '../dns/proxy.js';
import { enableListenerHandover, listenInNetns, releaseNetns } from './sockets.js';

export interface PodHandlers {
  outbound(socket: net.Socket): void;
  inboundPlaintext(socket: net.Socket): void;
  hbone(req: HboneRequest): void;
}

export interface PodListenerOptions {
  netnsPath: string;
  ports: { outbound: number; inboundPlaintext: number; hbone: number };
  /** Address families of the pod (its IPs): each port listens on 0.0.0.0 and/or ::. Default [4]. */
  families?: readonly (4 | 6)[];
  /** Current credentials of the pod's identity (read per new TLS connection: rotation is seamless). */
  credentials: () => Credentials;
  trustDomain: string;
  handlers: PodHandlers;
  log: Logger;
  /** The DNS proxy's listeners for this pod; none when absent. */
  dns?: { port: number; proxy: DnsProxy; client: () => DnsClient };
}

export class PodListeners {
  private constructor(
    private readonly netnsPath: string,
    private readonly servers: readonly net.Server[],
    private readonly hboneServer: HboneServer,
    private readonly sockets: Set<net.Socket>,
    private readonly dns: PodDns | undefined,
  ) {}

  static async open(o: PodListenerOptions): Promise<PodListeners> {
    const sockets = new Set<net.Socket>();
    const track = (s: net.Socket): void => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    };
    const hboneServer = createHboneServer({
      credentials: o.credentials,
      trustDomain: o.trustDomain,
      handler: o.handlers.hbone,
      log: o.log,
    });
    const opened: net.Server[] = [];
    let dns: PodDns | undefined;
    // No Nagle towards the app (as the dialled sockets and HBONE's): a reply the relay writes
    // in two turns must not wait for the ACK of the first part.
    const listeners: Array<[number, (s: net.Socket) => void]> = [
      [o.ports.outbound, (s) => o.handlers.outbound(s.setNoDelay(true))],
      [o.ports.inboundPlaintext, (s) => o.handlers.inboundPlaintext(s.setNoDelay(true))],
      [o.ports.hbone, (s) => hboneServer.handleSocket(s)],
    ];
    try {
      // SO_REUSEPORT on every listener: a new agent opens its own next to these before this one
      // closes them, so no connection finds the port closed during a restart.
      if (!enableListenerHandover(o.netnsPath)) {
        o.log.warn(
          'no net.ipv4.tcp_migrate_req (old kernel or addon build): connections queued on a closing listener are reset',
        );
      }
      for (const family of o.families ?? [4]) {
        for (const [port, handle] of listeners) {
          const server = await listenInNetns(o.netnsPath, port, family === 6 ? '::' : '0.0.0.0', { reusePort: true });
          opened.push(server);
          server.on('connection', (s: net.Socket) => {
            track(s);
            handle(s);
          });
        }
      }
      if (o.dns) {
        dns = await PodDns.open({
          netnsPath: o.netnsPath,
          port: o.dns.port,
          families: o.families ?? [4],
          proxy: o.dns.proxy,
          client: o.dns.client,
          log: o.log,
        });
      }
    } catch (err) {
      await Promise.all(opened.map((s) => new Promise((r) => s.close(r))));
      await hboneServer.close({ force: true });
      releaseNetns(o.netnsPath);
      throw err;
    }
    for (const s of opened) s.on('error', (err) => o.log.error('pod listener error', { err }));
    return new PodListeners(o.netnsPath, opened, hboneServer, sockets, dns);
  }

  /**
   * Stop accepting; the pod's existing connections keep running. Resolves once the listening
   * sockets are closed (net.Server's close callback would also wait for every connection).
   */
  stopAccepting(): Promise<void> {
    for (const s of this.servers) if (s.listening) s.close();
    return Promise.resolve();
  }

  /** Close everything now: listeners, proxied connections, HBONE sessions, the netns fd. */
  async close(): Promise<void> {
    const closed = Promise.all(
      this.servers.map(
        (s) =>
          new Promise((r) => {
            if (s.listening) s.close(r);
            else r(undefined);
          }),
      ),
    );
    // A connection cut here must not look like a clean end to its client: reset it.
    for (const s of this.sockets) s.resetAndDestroy();
    await Promise.all([closed, this.hboneServer.close({ force: true }), this.dns?.close()]);
    releaseNetns(this.netnsPath);
  }

  /** Stop accepting, then let HBONE streams finish (the caller bounds this with a deadline). */
  async drain(): Promise<void> {
    await Promise.all([this.stopAccepting(), this.hboneServer.close()]);
  }
}
