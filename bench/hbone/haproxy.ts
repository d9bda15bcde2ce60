// The native peer: HAProxy doing the same chain as HBONE, in its best measured configuration
// (CONTRACT.md): mode tcp, TLS 1.3 with TLS_AES_128_GCM_SHA256, client certificates verified
// on both sides, tune.bufsize 65536, one process per side (one thread each).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, ChildGroup } from '../common/children.js';
import { freePort, waitForPortOf } from '../common/net.js';

export interface Route { readonly name: string; readonly targetPort: number }

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

export async function startHaproxyChain(
  group: ChildGroup, dir: string, pem: { client: string; server: string; ca: string }, routes: readonly Route[], threads = 1,
): Promise<HaproxyChain> {
  const entry: Record<string, number> = {};
  const tlsPorts: number[] = [];
  let clientSide = GLOBAL(threads);
  let serverSide = GLOBAL(threads);
  for (const r of routes) {
    const inPort = await freePort();
    const tlsPort = await freePort();
    entry[r.name] = inPort;
    tlsPorts.push(tlsPort);
    clientSide += `
frontend in_${r.name}
  bind 127.0.0.1:${inPort}
  default_backend tls_${r.name}
backend tls_${r.name}
  server peer 127.0.0.1:${tlsPort} ssl crt ${pem.client} ca-file ${pem.ca} verify required
`;
    serverSide += `
frontend tls_${r.name}
  bind 127.0.0.1:${tlsPort} ssl crt ${pem.server} ca-file ${pem.ca} verify required
  default_backend out_${r.name}
backend out_${r.name}
  server target 127.0.0.1:${r.targetPort}
`;
  }
  const clientCfg = join(dir, 'haproxy-client.cfg');
  const serverCfg = join(dir, 'haproxy-server.cfg');
  writeFileSync(clientCfg, clientSide);
  writeFileSync(serverCfg, serverSide);
  // -db: stay in the foreground without master-worker, so the pid is the proxy itself.
  const server = await group.start('haproxy', ['-db', '-f', serverCfg], { name: 'haproxy-server' });
  await Promise.all(tlsPorts.map((p) => waitForPortOf(server, p)));
  const client = await group.start('haproxy', ['-db', '-f', clientCfg], { name: 'haproxy-client' });
  await Promise.all(Object.values(entry).map((p) => waitForPortOf(client, p)));
  return { entry, children: [client, server] };
}
