// The native peer: HAProxy doing the same chain as HBONE, in its best measured configuration
// (CONTRACT.md): mode tcp, TLS 1.3 with TLS_AES_128_GCM_SHA256, client certificates verified
// on both sides, tune.bufsize 65536, one process per side (one thread each).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, ChildGroup } from '../common/children.js';
import { freePort, waitForPortOf } from '../common/net.js';

export interface Route {
  readonly name: string;
  readonly targetPort: number;
}

export interface HaproxyChain {
  /** Entry port per route name (TCP in). */
  readonly entry: Record<string, number>;
  readonly children: readonly Child[];
}

const GLOBAL = (threads: number): string => `global
  nbthread ${threads}
  maxconn 8000
  tune.bufsize 65536
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`;

export interface PortedRoute extends Route {
  readonly inPort: number;
  readonly tlsPort: number;
}

/** The two HAProxy configurations (client side, server side) for `routes`. */
export function haproxyConfigs(
  pem: { client: string; server: string; ca: string },
  routes: readonly PortedRoute[],
  threads = 1,
): { client: string; server: string } {
  let client = GLOBAL(threads);
  let server = GLOBAL(threads);
  for (const r of routes) {
    client += `
frontend in_${r.name}
  bind 127.0.0.1:${r.inPort}
  default_backend tls_${r.name}
backend tls_${r.name}
  server peer 127.0.0.1:${r.tlsPort} ssl crt ${pem.client} ca-file ${pem.ca} verify required
`;
    server += `
frontend tls_${r.name}
  bind 127.0.0.1:${r.tlsPort} ssl crt ${pem.server} ca-file ${pem.ca} verify required
  default_backend out_${r.name}
backend out_${r.name}
  server target 127.0.0.1:${r.targetPort}
`;
  }
  return { client, server };
}

export async function startHaproxyChain(
  group: ChildGroup,
  dir: string,
  pem: { client: string; server: string; ca: string },
  routes: readonly Route[],
  threads = 1,
): Promise<HaproxyChain> {
  const ported: PortedRoute[] = [];
  for (const r of routes) ported.push({ ...r, inPort: await freePort(), tlsPort: await freePort() });
  const cfg = haproxyConfigs(pem, ported, threads);
  const clientCfg = join(dir, 'haproxy-client.cfg');
  const serverCfg = join(dir, 'haproxy-server.cfg');
  writeFileSync(clientCfg, cfg.client);
  writeFileSync(serverCfg, cfg.server);
  // -db: stay in the foreground without master-worker, so the pid is the proxy itself.
  const server = await group.start('haproxy', ['-db', '-f', serverCfg], { name: 'haproxy-server' });
  await Promise.all(ported.map((r) => waitForPortOf(server, r.tlsPort)));
  const client = await group.start('haproxy', ['-db', '-f', clientCfg], { name: 'haproxy-client' });
  await Promise.all(ported.map((r) => waitForPortOf(client, r.inPort)));
  return { entry: Object.fromEntries(ported.map((r) => [r.name, r.inPort])), children: [client, server] };
}
