// Shared shapes and defaults of the HBONE library (HTTP/2 CONNECT over mutual TLS).
import type { Socket } from 'node:net';
import type { Credentials } from '../identity/types.js';
import type { Logger } from '../log.js';

/** Where a tunnel goes: the HBONE endpoint to dial and the identities it may present. */
export interface HboneTarget {
  /** IP literal of the HBONE endpoint (a node agent or waypoint), never a hostname. */
  readonly address: string;
  /** Usually 15008. */
  readonly port: number;
  /** `:authority` of the CONNECT: the final destination `ip:port`. */
  readonly authority: string;
  /** SPIFFE ids the server may present; any other identity is refused. */
  readonly expectedIdentities: readonly string[];
}

export interface HboneConnectOptions {
  source: Credentials;
  target: HboneTarget;
  /** Original client `ip:port`, sent as `forwarded: for="ip:port"`. */
  forwardedFor?: string;
  /** W3C trace context; one is generated when absent. */
  traceparent?: string;
  extraHeaders?: Record<string, string>;
  /** Covers dial, TLS handshake and the CONNECT answer; default 10 s. */
  timeoutMs?: number;
  /** Dial from a pod netns: an unconnected socket (agent/native); `key` separates pools per netns. */
  via?: { key: string; createSocket: () => Socket };
}

/** HTTP/2 flow-control sizing, shared by client and server. */
export interface HboneFlowOptions {
  /** Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE); default 4 MiB. */
  streamWindowBytes?: number;
  /** Connection receive window, set with setLocalWindowSize; default 16 MiB. */
  connectionWindowBytes?: number;
  /** SETTINGS_MAX_FRAME_SIZE; default 1 MiB (HTTP/2 allows at most 16 MiB - 1). */
  maxFrameBytes?: number;
  /** nghttp2 session memory cap in MB; default 64 (Node's 10 is tight with 16 MiB windows). */
  maxSessionMemoryMb?: number;
}

export interface HbonePoolOptions extends HboneFlowOptions {
  /** Streams per connection before another connection opens; default 100. */
  maxStreamsPerConnection?: number;
  /** An unused connection closes after this long; default 60 s. */
  idleTimeoutMs?: number;
  /** Default for HboneConnectOptions.timeoutMs; default 10 s. */
  connectTimeoutMs?: number;
  /** An HTTP/2 PING on every connection this often (0: never); default 30 s. */
  pingIntervalMs?: number;
  /** A connection whose PING is not answered within this is dropped; default 10 s. */
  pingTimeoutMs?: number;
  log?: Logger;
}

export interface HbonePoolStats {
  /** Completed TLS handshakes (new connections) since the pool was made. */
  readonly handshakes: number;
  readonly handshakeFailures: number;
  /** Live connections in the pool (usable or draining). */
  readonly connections: number;
  /** Streams open now. */
  readonly activeStreams: number;
  /** Tunnels established (200 received) since the pool was made. */
  readonly tunnelsOpened: number;
  /** CONNECTs that failed (status, TLS, dial, timeout). */
  readonly tunnelsFailed: number;
  /** Pool keys (source, destination identities, address, netns) with a connection or a handshake. */
  readonly keys: number;
}

export const MiB = 1024 * 1024;

/** Resource bounds of an HBONE server: what one peer may hold open. */
export interface HboneServerBounds {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per connection (as ztunnel); excess streams are refused. Default 100. */
  maxConcurrentStreams?: number;
  /** A connection with no stream for this long is closed (GOAWAY); default 5 min (above the client pool's 60 s). */
  idleTimeoutMs?: number;
  /** Absolute deadline from TCP accept to a finished TLS handshake; default 10 s. */
  handshakeTimeoutMs?: number;
  /** Live connections one peer identity (SPIFFE id) may hold; further ones are refused. Default 1024. */
  maxConnectionsPerPeer?: number;
}

export interface ResolvedServerBounds {
  readonly maxConcurrentStreams: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxConnectionsPerPeer: number;
}

export function resolveServerBounds(o: HboneServerBounds = {}): ResolvedServerBounds {
  return {
    maxConcurrentStreams: positive(o.maxConcurrentStreams, 100),
    idleTimeoutMs: positive(o.idleTimeoutMs, 5 * 60_000),
    handshakeTimeoutMs: positive(o.handshakeTimeoutMs, 10_000),
    maxConnectionsPerPeer: positive(o.maxConnectionsPerPeer, 1024),
  };
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
}

export interface ResolvedFlow {
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxFrameBytes: number;
  readonly maxSessionMemoryMb: number;
}

export function resolveFlow(o: HboneFlowOptions = {}): ResolvedFlow {
  return {
    streamWindowBytes: o.streamWindowBytes ?? 4 * MiB,
    connectionWindowBytes: o.connectionWindowBytes ?? 16 * MiB,
    maxFrameBytes: o.maxFrameBytes ?? MiB,
    maxSessionMemoryMb: o.maxSessionMemoryMb ?? 64,
  };
}

/** HTTP/2 SETTINGS both peers advertise. */
export function http2Settings(flow: ResolvedFlow): {
  initialWindowSize: number;
  maxFrameSize: number;
  enablePush: false;
} {
  return { initialWindowSize: flow.streamWindowBytes, maxFrameSize: flow.maxFrameBytes, enablePush: false };
}
