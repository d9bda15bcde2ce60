// HBONE: HTTP/2 CONNECT tunnels over mutual TLS (client pool, server, relay).
export type { HboneConnectOptions, HboneFlowOptions, HbonePoolOptions, HbonePoolStats, HboneTarget } from './options.js';
export { HbonePool } from './pool.js';
export { HboneStatusError } from './client.js';
export { acceptTunnel, createHboneServer, rejectTunnel } from './server.js';
export type { HboneListenOptions, HboneRequest, HboneServer, HboneServerOptions, HboneServerStats } from './server.js';
export { relay } from './relay.js';
export type { RelayResult } from './relay.js';
export { forwardedFor, joinHostPort, newTraceparent, splitHostPort } from './headers.js';
