// How the waypoint reaches endpoints: HBONE (mutual TLS, its own identity, the endpoint's
// identity expected) for mesh workloads; plain TCP for endpoints outside the mesh, or TLS
// when a DestinationRule originates it (SIMPLE / MUTUAL / ISTIO_MUTUAL, tls-origination.ts). Transports are cached per
// endpoint and protocol and dropped when the endpoint leaves the config.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { joinHostPort, type HbonePool } from '../../core/hbone/index.js';
import type { Credentials } from '../../core/identity/types.js';
import type { Cluster } from '../../core/model/l7.js';
import type { EndpointRuntime } from './balancer.js';
import type { TransportFactory } from './router.js';
import { http1Transport, http2Transport, type EndpointTransport } from './transport.js';
import { connectTls, originationOptions, TlsMaterial } from './tls-origination.js';

export interface TransportOptions {
  readonly pool: HbonePool;
  readonly credentials: () => Credentials;
  /** HBONE port of the endpoints (15008). */
  readonly hbonePort?: number;
  readonly connectTimeoutMs?: number;
  /** Where DestinationRule `credentialName`s are read from (`<dir>/<name>/tls.crt`, …). */
  readonly credentialsDir?: string;
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

export class HboneTransportFactory implements TransportFactory {
  private readonly cache = new Map<string, EndpointTransport>();
  private readonly material: TlsMaterial;
  private readonly tlsKeys = new WeakMap<Cluster, string>();

  constructor(private readonly o: TransportOptions) {
    this.material = new TlsMaterial(o.credentialsDir);
  }

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
    const t = cluster.trafficPolicy.tls;
    // ISTIO_MUTUAL between mesh workloads is HBONE already; towards endpoints outside the mesh
    // it applies to ServiceEntry (external) hosts only, so a blanket ISTIO_MUTUAL rule does not
    // turn plaintext to a non-enrolled pod into TLS it cannot speak.
    if (t && t.mode !== 'DISABLE' && (t.mode !== 'ISTIO_MUTUAL' || cluster.external)) {
      try {
        const target = { cluster, address: e.address, port: e.port, ...(e.identity ? { identity: e.identity } : {}) };
        return connectTls(originationOptions(t, target, this.material, this.o.credentials), timeout);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return connectTcp(e.address, e.port, timeout);
  }

  forEndpoint(cluster: Cluster, ep: EndpointRuntime): EndpointTransport {
    const key = `${cluster.name}|${ep.key}|${this.tlsKey(cluster)}`;
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

  /**
   * The TLS settings are part of a transport's key: a DestinationRule that changes them gets new
   * connections made with the new settings (kept-alive ones would keep the old handshake).
   */
  private tlsKey(cluster: Cluster): string {
    let k = this.tlsKeys.get(cluster);
    if (k === undefined) {
      k = cluster.trafficPolicy.tls ? JSON.stringify(cluster.trafficPolicy.tls) : '';
      this.tlsKeys.set(cluster, k);
    }
    return k;
  }

  /** Drops transports of endpoints that are gone, or whose TLS settings changed. */
  retain(clusters: readonly Cluster[]): void {
    // Certificate files are read again after a config change (rotated credentials).
    this.material.clear();
    const live = new Set(
      clusters.flatMap((c) => c.endpoints.map((e) => `${c.name}|${e.address}:${e.port}|${this.tlsKey(c)}`)),
    );
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
