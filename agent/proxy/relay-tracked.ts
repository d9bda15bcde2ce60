// A relay whose connection record shows its bytes while it is open: `/debug/connections`
// reads the relay's running counts when it is served (nothing is done per chunk beyond the
// relay's own addition), and the totals close the record.
import type { Duplex } from 'node:stream';
import { relay, type RelayResult } from '../../core/hbone/index.js';
import type { Tracked } from './connections.js';

type Count = 'bytesToTunnel' | 'bytesFromTunnel';

/** Relays `socket` ⇄ `tunnel`; `client` names the side the connection's client is on. */
export async function relayTracked(
  t: Tracked,
  socket: Duplex,
  tunnel: Duplex,
  client: 'socket' | 'tunnel',
): Promise<void> {
  const counts: RelayResult = { bytesToTunnel: 0, bytesFromTunnel: 0, reason: '' };
  const fromClient: Count = client === 'socket' ? 'bytesToTunnel' : 'bytesFromTunnel';
  const toClient: Count = client === 'socket' ? 'bytesFromTunnel' : 'bytesToTunnel';
  t.readLive(() => ({ fromClient: counts[fromClient], toClient: counts[toClient] }));
  const r = await relay(socket, tunnel, counts);
  t.done({ fromClient: r[fromClient], toClient: r[toClient], reason: r.reason });
}
