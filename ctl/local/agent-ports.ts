// The agent's node ports (admin, metrics, ready, SOCKS5) in `local up` are held by `local up`
// itself and forwarded to the agent that currently serves: a restarted agent starts next to
// the old one (its in-pod listeners share the pods' ports through SO_REUSEPORT), on the other
// of two sets of internal ports, and the node ports follow it once it printed `ready`. So
// `curl 127.0.0.1:15000/config_dump` keeps working through an agent restart.
import net from 'node:net';

export interface AgentPortSet {
  readonly admin: number;
  readonly metrics: number;
  readonly ready: number;
  readonly socks5: number;
}
export type PortKind = keyof AgentPortSet;

export interface AgentFront {
  /** From now on new connections go to these ports. */
  target(set: AgentPortSet): void;
  current(): AgentPortSet | undefined;
  close(): Promise<void>;
}

/** `n` ports free on 127.0.0.1 right now (the kernel's choice). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function relay(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.resetAndDestroy());
  b.on('error', () => a.resetAndDestroy());
  a.on('close', () => {
    if (!b.destroyed) b.end(() => b.destroy());
  });
  b.on('close', () => {
    if (!a.destroyed) a.end(() => a.destroy());
  });
}

export async function frontAgentPorts(publicPorts: AgentPortSet, host = '127.0.0.1'): Promise<AgentFront> {
  let current: AgentPortSet | undefined;
  const servers: net.Server[] = [];
  const open = new Set<net.Socket>();
  try {
    for (const kind of ['admin', 'metrics', 'ready', 'socks5'] as const) {
      if (!(publicPorts[kind] > 0)) continue;
      const server = net.createServer({ allowHalfOpen: true }, (client) => {
        const to = current?.[kind];
        if (!to) {
          client.resetAndDestroy();
          return;
        }
        const upstream = net.connect({ host: '127.0.0.1', port: to, allowHalfOpen: true });
        for (const s of [client, upstream]) {
          open.add(s);
          s.once('close', () => open.delete(s));
        }
        relay(client, upstream);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(publicPorts[kind], host, resolve);
      });
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  return {
    target: (set) => {
      current = set;
    },
    current: () => current,
    close: async () => {
      for (const s of open) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
