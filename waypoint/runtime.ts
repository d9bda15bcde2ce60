// Holds the waypoint's current pipeline and rebuilds it when config arrives. A config that
// cannot be built is refused (the problems go back as a NACK) and the last good pipeline
// keeps serving.
import type { WaypointRuntimeDump } from '../core/admin/dump.js';
import { describeError } from '../core/errors.js';
import type { HbonePool } from '../core/hbone/index.js';
import type { Credentials } from '../core/identity/types.js';
import type { Logger } from '../core/log.js';
import type { MeshMetrics } from '../core/metrics/mesh-metrics.js';
import type { WaypointConfig } from '../core/model/l7.js';
import type { Locality, Workload } from '../core/model/types.js';
import { JwksCache } from './filters/jwks.js';
import { Pipeline } from './pipeline.js';
import { ClusterManager } from './upstream/cluster.js';
import { HboneTransportFactory } from './upstream/transports.js';

export interface RuntimeOptions {
  readonly pool: HbonePool;
  readonly credentials: () => Credentials;
  readonly log: Logger;
  readonly localIp: string;
  readonly locality?: Locality;
  readonly hbonePort?: number;
  readonly metrics?: MeshMetrics;
  readonly random?: () => number;
  /** JWKS fetch bounds; tests on loopback replace the address check. */
  readonly jwks?: ConstructorParameters<typeof JwksCache>[0];
  /** DestinationRule `credentialName` folders (`<dir>/<name>/tls.crt`, tls.key, ca.crt). */
  readonly credentialsDir?: string;
}

export class WaypointRuntime {
  private current: Pipeline | undefined;
  private workloads: readonly Workload[] = [];
  readonly clusters: ClusterManager;
  readonly transports: HboneTransportFactory;
  readonly jwks: JwksCache;

  constructor(private readonly o: RuntimeOptions) {
    this.clusters = new ClusterManager(o.locality);
    this.jwks = new JwksCache(o.jwks ?? {});
    this.transports = new HboneTransportFactory({
      pool: o.pool,
      credentials: o.credentials,
      ...(o.hbonePort ? { hbonePort: o.hbonePort } : {}),
      ...(o.credentialsDir ? { credentialsDir: o.credentialsDir } : {}),
    });
  }

  pipeline(): Pipeline | undefined {
    return this.current;
  }

  /** Applies a config; returns the problems (empty = applied). */
  apply(config: WaypointConfig | undefined, workloads?: readonly Workload[]): string[] {
    if (workloads) this.workloads = workloads;
    if (!config) return [];
    try {
      const next = new Pipeline(config, this.workloads, {
        clusters: this.clusters,
        transports: this.transports,
        jwks: this.jwks,
        log: this.o.log,
        localIp: this.o.localIp,
        ...(this.o.random ? { random: this.o.random } : {}),
      });
      this.current = next;
      this.transports.retain(config.clusters);
      const allowHttp = config.mesh.jwksAllowHttp ?? false;
      this.jwks.retain(
        config.requestAuthentications.flatMap((p) =>
          p.jwtRules.map((r) => ({
            ...(r.jwksUri ? { uri: r.jwksUri } : {}),
            ...(r.jwks ? { inline: r.jwks } : {}),
            allowHttp,
          })),
        ),
      );
      this.o.metrics?.configApplied(config.version);
      this.o.log.info('waypoint config applied', {
        version: config.version,
        virtualHosts: config.virtualHosts.length,
        clusters: config.clusters.length,
        filters: next.filters.map((f) => f.name),
      });
      return [];
    } catch (err) {
      this.o.metrics?.configRejected();
      const problem = `waypoint config ${config.version} rejected: ${describeError(err)}`;
      this.o.log.error(problem);
      return [problem];
    }
  }

  dump(): WaypointRuntimeDump {
    const p = this.current;
    return {
      version: p?.config.version,
      namespace: p?.config.namespace,
      routes: p?.config.virtualHosts ?? [],
      clusters: (p?.config.clusters ?? []).map((c) => ({ ...c, runtime: this.clusters.get(c.name)?.snapshot() ?? [] })),
      authorizationPolicies: p?.config.authorizationPolicies ?? [],
      requestAuthentications: p?.config.requestAuthentications ?? [],
      filters: p?.filters.map((f) => f.name) ?? [],
    };
  }

  close(): void {
    this.clusters.close();
    this.transports.close();
  }
}
