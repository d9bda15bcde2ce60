// How a gateway labels its request metrics: as Istio's ingress and egress gateways do. Istio
// counts a gateway as the client side of the hop into the mesh (reporter `source`); the source
// is the gateway itself (its workload, namespace, principal, app, version), the destination is
// the service the request was routed to (the cluster's service, not the Host the client sent)
// and the workload that answered. TCP servers (and TLS passed through) count connections the
// same way in Istio's TCP metrics.
import { httpLabels, peerFromWorkload, tcpLabels, type PeerInfo } from '../../core/metrics/labels.js';
import type { MeshMetrics, TcpSeries } from '../../core/metrics/mesh-metrics.js';
import type { Cluster, ClusterEndpoint } from '../../core/model/l7.js';
import type { Workload } from '../../core/model/types.js';
import { destinationPeer, type RequestRecord, type RequestReporter } from '../telemetry.js';

export interface GatewayWorkload {
  /** The gateway pod's name (a Deployment's pod name gives the Deployment, as in Istio). */
  readonly podName: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The gateway's SPIFFE id. */
  readonly identity: string;
}

/** The gateway as the source of its requests. */
export function gatewayPeer(g: GatewayWorkload): PeerInfo {
  return peerFromWorkload({ name: g.podName, namespace: g.namespace, identity: g.identity, labels: g.labels });
}

// `<name>.<namespace>.svc.<domain>`: a Kubernetes Service's host.
const SERVICE_HOST = /^([^.]+)\.([^.]+)\.svc(?:\.|$)/;

/**
 * The destination service of a cluster: its host; the name is the Service's short name for a
 * Kubernetes host, the whole host for a ServiceEntry's (as Istio labels them); the namespace
 * is the one that declares it.
 */
export function clusterService(c: Pick<Cluster, 'host' | 'serviceKey'>): {
  hostname: string;
  name: string;
  namespace: string;
} {
  const m = SERVICE_HOST.exec(c.host);
  const slash = c.serviceKey?.indexOf('/') ?? -1;
  const namespace = slash > 0 ? c.serviceKey!.slice(0, slash) : (m?.[2] ?? '');
  return { hostname: c.host, name: m ? m[1]! : c.host, namespace };
}

/** The hop into the mesh is HBONE (mutual TLS); an endpoint outside it (egress) is not. */
const securityOf = (e: ClusterEndpoint): 'mutual_tls' | 'none' => (e.hbone && e.identity ? 'mutual_tls' : 'none');

/** The gateway's TCP metrics: one series per connection it forwards, labelled as its requests are. */
export class GatewayTcpMetrics {
  constructor(
    private readonly metrics: MeshMetrics,
    private readonly self: PeerInfo,
  ) {}

  /** A connection forwarded to `endpoint` of `cluster`, counted as opened. */
  opened(cluster: Pick<Cluster, 'host' | 'serviceKey'>, endpoint: ClusterEndpoint, workload?: Workload): TcpSeries {
    const series = this.metrics.tcpSeries(
      tcpLabels({
        reporter: 'source',
        source: this.self,
        destination: destinationPeer({
          destinationEndpoint: endpoint,
          ...(workload ? { destinationWorkload: workload } : {}),
        }),
        service: clusterService(cluster),
        securityPolicy: securityOf(endpoint),
        protocol: 'tcp',
      }),
    );
    series.opened();
    return series;
  }
}

export function gatewayReporter(self: PeerInfo): RequestReporter {
  return {
    view: (r) => {
      // The client is outside the mesh: the gateway itself is the source.
      const { sourceWorkload: _w, sourcePrincipal: _p, service: _s, ...rest } = r;
      return r.cluster ? { ...rest, service: clusterService(r.cluster) } : rest;
    },
    labels: (r: RequestRecord) =>
      httpLabels({
        reporter: 'source',
        source: self,
        destination: destinationPeer(r),
        ...(r.service ? { service: r.service } : {}),
        securityPolicy: r.destinationEndpoint ? securityOf(r.destinationEndpoint) : 'mutual_tls',
        protocol: r.protocol,
        responseFlags: r.flag,
        responseCode: r.status,
      }),
  };
}
