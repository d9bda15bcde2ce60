// HBONE: HTTP/2 CONNECT tunnels over mutual TLS 1.3 (client pool, server, relay).
//
// Errors (AmbitError codes) from HbonePool.connect:
//   AMBIT_E_HBONE_STATUS  the server answered the CONNECT with another status (HboneStatusError.status)
//   AMBIT_E_TLS_PEER      identity or chain refused, by us (wrong SAN, untrusted, expired) or by the server
//   AMBIT_E_HBONE_CONNECT dial failed, connection lost before the answer, malformed target
//   AMBIT_E_HBONE_RESET   the server reset the CONNECT stream
//   AMBIT_E_TIMEOUT       handshake or answer slower than timeoutMs
//   AMBIT_E_HBONE_POOL    the pool is closed
export type {
  HboneConnectOptions,
  HboneFlowOptions,
  HbonePoolOptions,
  HbonePoolStats,
  HboneTarget,
} from './options.js';
export { HbonePool } from './pool.js';
export { HboneStatusError } from './client.js';
export { acceptTunnel, createHboneServer, rejectTunnel } from './server.js';
export type { HboneListenOptions, HboneRequest, HboneServer, HboneServerOptions, HboneServerStats } from './server.js';
export { relay, splice } from './relay.js';
export type { RelayResult, SpliceResult } from './relay.js';
export { forwardedFor, joinHostPort, newTraceparent, splitHostPort } from './headers.js';
export { applyRelayTuning } from './tuning.js';
