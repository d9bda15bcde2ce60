// Several replicas of one waypoint behind one address, as a Service does for a waypoint
// Deployment in a cluster: `local up` gives the Gateway an address of its own (plan.ts) on a
// small netns of the bridge, and this L4 balancer listens there on the HBONE port and hands
// each connection to the next replica in rotation (mTLS stays end to end: bytes only). A
// replica being rolled is first taken out of the rotation (`drain`): its connections finish
// or move as it shuts down gracefully, new ones go to the others; `enable` brings it back.
import net from 'node:net';
import { listenInNetns, releaseNetns } from '../../agent/inpod/sockets.js';
import type { Logger } from '../../core/log.js';

export interface WaypointBalancer {
  drain(ip: string): void;
  enable(ip: string): void;
  /** Open connections per replica IP. */
  connections(): Record<string, number>;
  close(): Promise<void>;
}

/**
 * Byte relay: each side's end (FIN) is passed on (half-close), a reset resets the other side,
 * and once one side is closed the other is ended and closed after its last bytes (never left
 * open: an agent must see its pooled connection to a stopped replica go away).
 */
function relay(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.resetAndDestroy());
  b.on('error', () => a.resetAndDestroy());
  const closeAfter = (other: net.Socket) => () => {
    if (other.destroyed) return;
    other.end(() => other.destroy());
    setTimeout(() => other.destroy(), 2000).unref();
  };
  a.on('close', closeAfter(b));
  b.on('close', closeAfter(a));
}

export async function startWaypointBalancer(o: {
  netnsPath: string;
  address: string;
  port: number;
  replicas: readonly string[];
  log: Logger;
}): Promise<WaypointBalancer> {
  const enabled = new Set(o.replicas);
  const open = new Map<string, Set<net.Socket>>(o.replicas.map((ip) => [ip, new Set()]));
  let next = 0;
  const pick = (): string | undefined => {
    const live = o.replicas.filter((ip) => enabled.has(ip));
    if (live.length === 0) return undefined;
    return live[next++ % live.length];
  };
  const server = await listenInNetns(o.netnsPath, o.port, o.address);
  server.on('connection', (client: net.Socket) => {
    const ip = pick();
    if (!ip) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: ip, port: o.port, allowHalfOpen: true });
    const set = open.get(ip)!;
    set.add(upstream);
    upstream.once('close', () => set.delete(upstream));
    relay(client, upstream);
  });
  o.log.info('waypoint balancer', { address: `${o.address}:${o.port}`, replicas: o.replicas });
  return {
    drain: (ip) => {
      enabled.delete(ip);
    },
    enable: (ip) => {
      if (open.has(ip)) enabled.add(ip);
    },
    connections: () => Object.fromEntries([...open].map(([ip, s]) => [ip, s.size])),
    close: async () => {
      for (const s of open.values()) for (const c of s) c.destroy();
      await new Promise((r) => server.close(r));
      try {
        releaseNetns(o.netnsPath);
      } catch {
        /* the addon never loaded */
      }
    },
  };
}
