// Test support: one agent's proxy handlers serving two "pods" on loopback, with real mTLS and
// HBONE between them and a LoopbackPodNet in place of the netns addon. No root needed.
//   client pod 127.0.0.10 (shop/client) ── outbound ──HBONE 127.0.0.20:<hbone>──▶ server pod
//   server pod 127.0.0.20 (shop/server): inbound HBONE, inbound plaintext, an echo app
//   Service server.shop VIP 127.0.0.30:80 → the app; 127.0.0.40 hosts a server outside the mesh.
import net from 'node:net';
import { createHboneServer, HbonePool, type HboneServer } from '../../core/hbone/index.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import type { Credentials } from '../../core/identity/types.js';
import { createLogger, setLogLevel } from '../../core/log.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { parseSnapshotText } from '../config/snapshot-file.js';
import { MeshState } from '../state/mesh-state.js';
import { ConnectionTracker } from './connections.js';
import type { PodContext, ProxyContext } from './context.js';
import { handleHboneRequest } from './inbound.js';
import { LoopbackPodNet } from './loopback-pod-net.js';
import { handleOutbound } from './outbound.js';
import { handlePlaintextInbound } from './plaintext-inbound.js';

export const CLIENT_IP = '127.0.0.10';
export const SERVER_IP = '127.0.0.20';
export const VIP = '127.0.0.30';
export const OUTSIDE_IP = '127.0.0.40';
export const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';
export const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/server';

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function podContext(name: string, ip: string, identity: string, labels: Record<string, string> = {}): PodContext {
  return {
    pod: {
      uid: `uid-${name}`,
      name,
      namespace: 'shop',
      netnsPath: `/loopback/${name}`,
      ips: [ip],
      serviceAccount: name,
    },
    identity,
    workload: { namespace: 'shop', name, identity, ips: [ip], labels, serviceAccount: name },
  };
}

/** An echo server that records who connected; ends when its client ends. */
export class EchoApp {
  readonly peers: string[] = [];
  readonly server = net.createServer({ allowHalfOpen: true }, (s) => {
    this.peers.push(s.remoteAddress ?? '');
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  port = 0;
  async listen(host: string): Promise<this> {
    this.port = await listen(this.server, host);
    return this;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

export class LoopbackMesh {
  readonly net = new LoopbackPodNet({ '/loopback/client': [CLIENT_IP], '/loopback/server': [SERVER_IP] });
  readonly client = podContext('client', CLIENT_IP, CLIENT_ID);
  readonly server = podContext('server', SERVER_IP, SERVER_ID, { app: 'server' });
  readonly app = new EchoApp();
  readonly outside = new EchoApp();
  readonly pool = new HbonePool();
  readonly tracker = new ConnectionTracker(undefined, createLogger('loopback-mesh'));
  readonly creds = new Map<string, Credentials>();
  ctx!: ProxyContext;
  hbonePort = 0;
  private state!: MeshState;
  private version = 0;
  private hbone!: HboneServer;
  private readonly listeners: net.Server[] = [];
  private readonly outboundPorts = new Map<string, number>();
  private readonly plaintextPorts = new Map<string, number>();

  static async start(): Promise<LoopbackMesh> {
    // One "connection complete" line per connection would drown the test output.
    if (!process.env.AMBIT_LOG_LEVEL) setLogLevel('warn');
    const m = new LoopbackMesh();
    const ca = await CertificateAuthority.create();
    for (const id of [CLIENT_ID, SERVER_ID]) m.creds.set(id, await ca.issue(id));
    await m.app.listen(SERVER_IP);
    await m.outside.listen(OUTSIDE_IP);
    const log = createLogger('loopback-mesh');
    m.ctx = {
      state: () => m.state,
      credentials: (id) => Promise.resolve(m.creds.get(id)!),
      pool: m.pool,
      tracker: m.tracker,
      ports: { outbound: 15001, inboundPlaintext: 15006, hbone: 0, admin: 0, metrics: 0, ready: 0, socks5: 0 },
      log,
      net: m.net,
    };
    m.hbone = createHboneServer({
      credentials: () => m.creds.get(SERVER_ID)!,
      trustDomain: 'cluster.local',
      handler: (req) => handleHboneRequest(m.ctx, m.server, req),
      log,
    });
    m.hbonePort = (await m.hbone.listen({ port: 0, host: SERVER_IP }))!.port;
    (m.ctx.ports as { hbone: number }).hbone = m.hbonePort;
    m.apply();
    return m;
  }

  /** The mesh the agent sees; `extra` replaces top-level fields (policies, mesh settings). */
  snapshot(extra: Record<string, unknown> = {}): MeshSnapshot {
    return parseSnapshotText(
      JSON.stringify({
        namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }],
        workloads: [
          { name: 'client', namespace: 'shop', serviceAccount: 'client', ips: [CLIENT_IP], enrolled: true },
          {
            name: 'server',
            namespace: 'shop',
            serviceAccount: 'server',
            ips: [SERVER_IP],
            enrolled: true,
            labels: { app: 'server' },
          },
        ],
        services: [
          {
            name: 'server',
            namespace: 'shop',
            vips: [VIP],
            ports: [{ port: 80, targetPort: this.app.port, protocol: 'tcp' }],
            endpoints: [{ address: SERVER_IP, workloadUid: 'Pod/shop/server' }],
          },
        ],
        ...extra,
      }),
      `v${++this.version}`,
      'loopback-mesh',
    );
  }

  apply(extra: Record<string, unknown> = {}): void {
    this.state = new MeshState(this.snapshot(extra), undefined, this.hbonePort);
  }

  /** The client pod's app connects to `ip:port`; the "REDIRECT" brings it to its outbound handler. */
  async connectOutbound(ip: string, port: number): Promise<net.Socket> {
    const key = `${ip}|${port}`;
    let lport = this.outboundPorts.get(key);
    if (lport === undefined) {
      const srv = net.createServer({ allowHalfOpen: true }, (s) => handleOutbound(this.ctx, this.client, s));
      lport = await listen(srv, CLIENT_IP);
      this.listeners.push(srv);
      this.net.redirect(CLIENT_IP, lport, { address: ip, port });
      this.outboundPorts.set(key, lport);
    }
    return connectFrom(CLIENT_IP, CLIENT_IP, lport);
  }

  /** `fromIp` (outside the mesh) connects to the server pod's `port`; it lands on inbound plaintext. */
  async connectPlaintext(fromIp: string, port: number): Promise<net.Socket> {
    let lport = this.plaintextPorts.get(String(port));
    if (lport === undefined) {
      const srv = net.createServer({ allowHalfOpen: true }, (s) => handlePlaintextInbound(this.ctx, this.server, s));
      lport = await listen(srv, SERVER_IP);
      this.listeners.push(srv);
      this.net.redirect(SERVER_IP, lport, { address: SERVER_IP, port });
      this.plaintextPorts.set(String(port), lport);
    }
    return connectFrom(fromIp, SERVER_IP, lport);
  }

  /** Connections the tracker still counts as open. */
  active(): number {
    return this.tracker.counts().active;
  }

  async close(): Promise<void> {
    await Promise.all(this.listeners.map((s) => new Promise((r) => s.close(r))));
    this.pool.destroy();
    await this.hbone.close({ force: true });
    await Promise.all([this.app.close(), this.outside.close()]);
  }
}

/** Not awaiting 'connect': a refused connection may be reset before the client sees it connected. */
function connectFrom(localAddress: string, host: string, port: number): net.Socket {
  return net.connect({ host, port, localAddress, allowHalfOpen: true });
}

/** Send `payload`, half-close, and collect what comes back until the connection closes. */
export function exchange(sock: net.Socket, payload: string): Promise<{ echoed: string; error?: string }> {
  return new Promise((resolve) => {
    let echoed = '';
    let error: string | undefined;
    sock.on('data', (d: Buffer) => {
      echoed += d.toString();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on('close', () => resolve({ echoed, ...(error ? { error } : {}) }));
    sock.end(payload);
  });
}

/** Poll until `fn` returns true or `ms` pass. */
export async function until(fn: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return fn();
}
