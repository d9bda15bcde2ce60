// The two HBONE relays of the benchmark, built only from core/hbone's public API:
//   client relay: TCP in → HbonePool.connect (mTLS HTTP/2 CONNECT) → relay()
//   server relay: createHboneServer → dial the CONNECT authority → acceptTunnel → relay()
import { connect, createServer } from 'node:net';
import {
  acceptTunnel,
  createHboneServer,
  HbonePool,
  rejectTunnel,
  relay,
  splitHostPort,
} from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import { listenLoopback } from '../common/net.js';
import { SERVER_ID, TRUST_DOMAIN } from './pki.js';

/** Route name → destination port on 127.0.0.1. */
export type Routes = Record<string, number>;

/** Starts the HBONE server relay on an ephemeral loopback port and returns the port. */
export async function startHboneServerRelay(creds: Credentials): Promise<number> {
  const server = createHboneServer({
    credentials: () => creds,
    trustDomain: TRUST_DOMAIN,
    handler: (req) => {
      const dest = splitHostPort(req.authority);
      if (!dest) {
        rejectTunnel(req, 400, `bad authority ${req.authority}`);
        return;
      }
      const up = connect({ host: dest.host, port: dest.port, allowHalfOpen: true, noDelay: true });
      up.once('error', () => rejectTunnel(req, 503, 'destination refused'));
      up.once('connect', () => {
        up.removeAllListeners('error');
        relay(up, acceptTunnel(req)).catch(() => up.destroy());
      });
    },
  });
  const addr = await server.listen({ port: 0, host: '127.0.0.1' });
  if (!addr) throw new Error('hbone server: no listening address');
  return addr.port;
}

/** One TCP listener per route; each accepted connection becomes a tunnel over the pool. */
export async function startHboneClientRelays(
  creds: Credentials,
  hbonePort: number,
  routes: Routes,
): Promise<Record<string, number>> {
  const pool = new HbonePool();
  const entry: Record<string, number> = {};
  for (const [name, targetPort] of Object.entries(routes)) {
    const server = createServer({ allowHalfOpen: true }, (sock) => {
      sock.setNoDelay(true);
      sock.on('error', () => sock.destroy());
      pool
        .connect({
          source: creds,
          target: {
            address: '127.0.0.1',
            port: hbonePort,
            authority: `127.0.0.1:${targetPort}`,
            expectedIdentities: [SERVER_ID],
          },
        })
        .then((tunnel) => relay(sock, tunnel))
        .catch(() => sock.destroy());
    });
    entry[name] = await listenLoopback(server);
  }
  return entry;
}
