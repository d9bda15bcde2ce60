// How the waypoint reaches endpoints: HBONE (mutual TLS, its own identity, the endpoint's
// identity expected) for mesh workloads; plain TCP for endpoints outside the mesh, or TLS
// when a DestinationRule originates it (SIMPLE / MUTUAL). Transports are cached per
// endpoint and protocol and dropped when the endpoint leaves the config.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { joinHostPort, type HbonePool } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import type { Cluster } from '../../core/model/l7.js';
import type { EndpointRuntime } from './balancer.js';
import type { TransportFactory } from './router.js';
import { http1Transport, http2Transport, type EndpointTransport } from './transport.js';

export interface TransportOptions {
  readonly pool: HbonePool;
  readonly credentials: () => Credentials;
  /** HBONE port of the endpoints (15008). */
  readonly hbonePort?: number;
  readonly connectTimeoutMs?: number;
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(
      () =>
        socket.destroy(
          Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: 'AMBIT_E_HBONE_CONNECT' }),
        ),
      timeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(Object.assign(err, { code: (err as NodeJS.ErrnoException).code ?? 'ECONNREFUSED' }));
    });
  });
}

function originateTls(cluster: Cluster, host: string, port: number, timeoutMs: number): Promise<Duplex> {
  const t = cluster.trafficPolicy.tls!;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: t.sni ?? cluster.host,
      ...(t.caCertificates ? { ca: t.caCertificates } : {}),
      ...(t.mode === 'MUTUAL' && t.clientCertificate ? { cert: t.clientCertificate, key: t.privateKey } : {}),
      rejectUnauthorized: !t.insecureSkipVerify,
      ALPNProtocols: cluster.protocol === 'http2' || cluster.protocol === 'grpc' ? ['h2'] : ['http/1.1'],
    });
    const timer = setTimeout(() => socket.destroy(new Error(`TLS to ${host}:${port} timed out`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export class HboneTransportFactory implements TransportFactory {
  private readonly cache = new Map<string, EndpointTransport>();

  constructor(private readonly o: TransportOptions) {}

  dial(cluster: Cluster, ep: EndpointRuntime): Promise<Duplex> {
    const e = ep.endpoint;
    const timeout = cluster.trafficPolicy.connectionPool?.tcp?.connectTimeoutMs ?? this.o.connectTimeoutMs ?? 10_000;
    if (e.hbone && e.identity) {
      return this.o.pool.connect({
        source: this.o.credentials(),
        target: {
          address: e.address,
          port: this.o.hbonePort ?? 15008,
          authority: joinHostPort(e.address, e.port),
          expectedIdentities: [e.identity],
        },
        timeoutMs: timeout,
      });
    }
    const mode = cluster.trafficPolicy.tls?.mode;
    if (mode === 'SIMPLE' || mode === 'MUTUAL') return originateTls(cluster, e.address, e.port, timeout);
    return connectTcp(e.address, e.port, timeout);
  }

  forEndpoint(cluster: Cluster, ep: EndpointRuntime): EndpointTransport {
    const key = `${cluster.name}|${ep.key}`;
    let t = this.cache.get(key);
    if (!t) {
      const dial = (): Promise<Duplex> => this.dial(cluster, ep);
      const pool = cluster.trafficPolicy.connectionPool;
      t =
        cluster.protocol === 'http2' || cluster.protocol === 'grpc'
          ? http2Transport(dial)
          : http1Transport(dial, {
              ...(pool?.tcp?.maxConnections ? { maxConnections: pool.tcp.maxConnections } : {}),
              ...(pool?.http?.maxRequestsPerConnection
                ? { maxRequestsPerConnection: pool.http.maxRequestsPerConnection }
                : {}),
            });
      this.cache.set(key, t);
    }
    return t;
  }

  /** Drops transports of endpoints that are gone. */
  retain(clusters: readonly Cluster[]): void {
    const live = new Set(clusters.flatMap((c) => c.endpoints.map((e) => `${c.name}|${e.address}:${e.port}`)));
    for (const [key, t] of this.cache) {
      if (!live.has(key)) {
        t.close();
        this.cache.delete(key);
      }
    }
  }

  close(): void {
    for (const t of this.cache.values()) t.close();
    this.cache.clear();
  }
}
