// The waypoint (or gateway) process assembled from its settings: configuration and certificate
// sources, the L7 runtime, the HBONE server, an optional gateway and the admin servers.
import path from 'node:path';
import { certificateExpiries, type WaypointConfigDump } from '../core/admin/dump.js';
import { startAdminServers, type AdminServers } from '../core/admin/servers.js';
import type { ComponentRuntime } from '../core/config/component.js';
import { AmbitError } from '../core/errors.js';
import { HbonePool } from '../core/hbone/index.js';
import { CertificateStore } from '../core/identity/cert-store.js';
import { spiffeIdFor } from '../core/identity/spiffe.js';
import type { CaClient, Credentials } from '../core/identity/types.js';
import type { Logger } from '../core/log.js';
import { createMeshMetrics } from '../core/metrics/mesh-metrics.js';
import { startMallocTrim, type MallocTrimmer } from '../core/runtime/malloc-trim.js';
import { memoryAddon } from '../core/runtime/memory-addon.js';
import type { WaypointConfigSource } from '../core/xds/waypoint-source.js';
import type { WaypointSettings } from './config/settings.js';
import type { StartedGateway } from './gateway/start.js';
import { WaypointRuntime } from './runtime.js';
import { WaypointServer } from './server.js';
import { WaypointTelemetry } from './telemetry.js';
import { Tracer } from './tracing.js';

// Each mode's modules are imported only in that mode: file mode does not load the controller
// link (gRPC, protobuf schemas), controller mode not the file sources and the in-process CA, a
// waypoint not the gateway's. (A JSON config file loads no YAML parser either.)
async function sources(s: WaypointSettings, log: Logger): Promise<{ config: WaypointConfigSource; ca: CaClient }> {
  const gateway = s.mode !== 'waypoint';
  if (s.source === 'file') {
    const { CertificateAuthority } = await import('../core/identity/ca.js');
    const authority = await CertificateAuthority.loadOrCreate(path.join(s.stateDir, 'ca'), {
      trustDomain: s.trustDomain,
    });
    const fileLog = log.child({ component: 'config-file' });
    const file = gateway ? s.gateway.configFile : s.configFile;
    if (!file)
      throw new AmbitError('AMBIT_E_CONFIG', `file mode: no config file for --mode ${s.mode}`, {
        hint: gateway ? 'set AMBIT_GATEWAY_CONFIG_FILE' : 'set AMBIT_WAYPOINT_CONFIG_FILE',
      });
    const config = gateway
      ? new (await import('./gateway/file-source.js')).FileGatewaySource(file, fileLog)
      : new (await import('./config/file-source.js')).FileWaypointSource(file, fileLog);
    return { config, ca: authority.asClient() };
  }
  const [{ controllerLink }, { XdsWaypointSource }, { createGrpcCaClient }] = await Promise.all([
    import('../core/config/controller-link.js'),
    import('../core/xds/waypoint-source.js'),
    import('../core/identity/grpc-ca-client.js'),
  ]);
  // waypointSettings refuses controller mode without the address, roots and identity.
  const link = await controllerLink({
    address: s.controller!,
    rootsFile: s.controllerRoots!,
    identity: s.controllerIdentity!,
    tokenFile: s.tokenFile,
    log: log.child({ component: 'controller-link' }),
  });
  return {
    config: new XdsWaypointSource({
      address: link.address,
      rootsPem: link.rootsPem,
      node: {
        name: `${s.namespace}/${s.serviceAccount}`,
        role: 'waypoint',
        namespace: s.namespace,
        metadata: { pod: s.podName },
      },
      token: link.token,
      controllerIdentity: link.identity,
      gateway,
    }),
    ca: createGrpcCaClient({
      address: link.address,
      rootsPem: link.rootsPem,
      token: link.token,
      serverIdentity: link.identity,
    }),
  };
}

/**
 * Give memory back once a load is over (core/runtime/malloc-trim.ts): V8's low-memory collection
 * (which also shrinks the young generation the load grew) and then glibc's malloc_trim for freed
 * TLS and HTTP/2 buffers. Activity is tunnels and connections coming and going, and any busy
 * second (a load carried on keep-alive tunnels opens none); the start counts as a load. Without
 * the memory addon there is no trim.
 */
function startTrimmer(server: WaypointServer, pool: HbonePool, log: Logger): MallocTrimmer {
  const found = memoryAddon();
  if ('reason' in found) log.debug('memory is not given back after a load (no memory addon)', { reason: found.reason });
  const addon = 'addon' in found ? found.addon : undefined;
  return startMallocTrim({
    trim: addon && (() => addon.mallocTrim()),
    collect: () => addon?.lowMemoryNotification(),
    activity: () => {
      const inbound = server.stats();
      const upstream = pool.stats();
      return inbound.streamsTotal + inbound.sessions + upstream.tunnelsOpened + upstream.handshakes;
    },
    busyIsActivity: true,
    afterStart: true,
  });
}

/** The first certificate; the store logs each failure and retries with backoff until the CA answers. */
function firstCredentials(certs: CertificateStore, identity: string): Promise<Credentials> {
  return new Promise((resolve) => {
    const off = certs.onRotate((c) => {
      if (c.identity === identity) {
        off();
        resolve(c);
      }
    });
    certs.get(identity).then(
      (c) => {
        off();
        resolve(c);
      },
      () => undefined,
    );
  });
}

interface Running {
  config: WaypointConfigSource;
  certs: CertificateStore;
  pool: HbonePool;
  runtime: WaypointRuntime;
  tracer: Tracer;
  server: WaypointServer;
  gateway: StartedGateway | undefined;
  hbone: Awaited<ReturnType<WaypointServer['listen']>>;
  admin: AdminServers;
  trimmer: MallocTrimmer;
}

export class WaypointProcess implements ComponentRuntime {
  readonly identity: string;
  private running: Running | undefined;
  private drained = false;
  private stopped = false;

  constructor(
    private readonly s: WaypointSettings,
    private readonly log: Logger,
  ) {
    this.identity = spiffeIdFor(s.trustDomain, s.namespace, s.serviceAccount);
  }

  /** What it listens on, once started. */
  get ports(): { hbone?: number; admin?: number; metrics?: number; ready?: number; gateway?: number[] } {
    const r = this.running;
    if (!r) return {};
    return {
      hbone: r.hbone?.port,
      admin: r.admin.admin?.port,
      metrics: r.admin.metrics?.port,
      ready: r.admin.ready?.port,
      ...(r.gateway ? { gateway: r.gateway.listeners.ports() } : {}),
    };
  }

  get isGateway(): boolean {
    return this.s.mode !== 'waypoint';
  }

  async start(): Promise<void> {
    const { s, log, identity } = this;
    const { config, ca } = await sources(s, log);
    const certs = new CertificateStore({
      ca,
      ttlSeconds: s.certTtlSeconds,
      log: log.child({ component: 'cert-store' }),
    });
    let creds: Credentials = await firstCredentials(certs, identity);
    certs.onRotate((c) => {
      if (c.identity === identity) creds = c;
    });
    const credentials = (): Credentials => creds;

    const metrics = createMeshMetrics({ component: 'waypoint', http: true, tcp: true, processMetrics: true });
    metrics.setCertificateSource(() => certs.expiries());
    const pool = new HbonePool({ log: log.child({ component: 'hbone-pool' }) });
    const runtime = new WaypointRuntime({
      pool,
      credentials,
      log,
      localIp: s.podIp,
      hbonePort: s.upstreamHbonePort,
      metrics,
      credentialsDir: s.gateway.credentialDir,
    });
    const telemetry = new WaypointTelemetry(metrics, s.accessLogging, () => runtime.pipeline()?.config);
    const otlp = s.otlpEndpoint;
    const tracer = new Tracer({
      serviceName: `${s.namespace}.waypoint`,
      log: log.child({ component: 'tracing' }),
      ...(otlp ? { endpoint: otlp } : {}),
      policy: () => telemetry.samplingPolicy(),
    });
    const server = new WaypointServer({
      credentials,
      trustDomain: s.trustDomain,
      transports: runtime.transports,
      log,
      pipeline: () => runtime.pipeline(),
      telemetry,
      selfIdentity: () => identity,
      tracer,
    });
    // The gateway's modules only in a gateway.
    const gateway =
      s.mode === 'waypoint'
        ? undefined
        : await (
            await import('./gateway/start.js')
          ).startGateway(s, {
            runtime,
            telemetry,
            tracer,
            identity,
            metrics,
            log: log.child({ component: 'gateway' }),
          });
    await config.start((cfg, gateways, workloads, policies) =>
      gateway ? gateway.runtime.apply(gateways, policies, workloads) : runtime.apply(cfg, workloads),
    );
    await gateway?.runtime.settled();
    const hbone = await server.listen({ host: s.hboneHost, port: s.ports.hbone });
    const admin = await startAdminServers({
      ...(s.ports.admin > 0 ? { admin: { host: '127.0.0.1', port: s.ports.admin } } : {}),
      ...(s.ports.metrics > 0 ? { metrics: { port: s.ports.metrics } } : {}),
      ...(s.ports.ready > 0 ? { ready: { port: s.ports.ready } } : {}),
      isReady: () => runtime.pipeline() !== undefined,
      dump: (): WaypointConfigDump => ({
        identity,
        certificates: certificateExpiries(certs.expiries()),
        ...runtime.dump(),
        ...(gateway ? { gateway: gateway.runtime.dump() } : {}),
      }),
      connections: () => server.stats(),
      registry: metrics.registry,
      // POST /logging and other state changes only with this bearer token (AMBIT_ADMIN_TOKEN).
      ...(s.adminToken ? { mutationToken: s.adminToken } : {}),
      log: log.child({ component: 'admin' }),
    });
    const trimmer = startTrimmer(server, pool, log.child({ component: 'malloc-trim' }));
    this.running = { config, certs, pool, runtime, tracer, server, gateway, hbone, admin, trimmer };
  }

  ready(): boolean {
    return this.running?.runtime.pipeline() !== undefined;
  }

  /**
   * Stop taking configuration and connections and close the gateway listeners and the HBONE
   * server, which waits for its open connections. The deadline is not enforced here: the
   * supervisor's kill after its grace period bounds it.
   */
  async drain(): Promise<void> {
    const r = this.running;
    if (!r || this.drained) return;
    this.drained = true;
    await r.config.stop();
    await r.gateway?.close();
    await r.server.close();
  }

  /** Release the rest (tracing, the HBONE pool, certificates, admin servers); idempotent. */
  async stop(): Promise<void> {
    await this.drain();
    const r = this.running;
    if (!r || this.stopped) return;
    this.stopped = true;
    r.trimmer.stop();
    await r.tracer.close();
    await r.pool.close();
    r.runtime.close();
    r.certs.close();
    await r.admin.close();
  }
}
