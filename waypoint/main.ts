#!/usr/bin/env node
// `ambit-waypoint`: a namespace's waypoint, or with --mode ingress-gateway|egress-gateway a
// gateway serving the Istio Gateways that select its labels (waypoint/gateway/), through
// the same L7 pipeline, into the mesh over HBONE with its own identity.
// Controller mode (AMBIT_CONTROLLER): L7 config and certificate from the controller.
// File mode (AMBIT_WAYPOINT_CONFIG_FILE, or AMBIT_GATEWAY_CONFIG_FILE for a gateway): config
// from a file, certificate from an in-process CA persisted in AMBIT_STATE_DIR/ca.
import { applyRelayTuning } from '../core/hbone/tuning.js';
import path from 'node:path';
import { certificateExpiries, type WaypointConfigDump } from '../core/admin/dump.js';
import { startAdminServers } from '../core/admin/servers.js';
import { AmbitError, describeError } from '../core/errors.js';
import { HbonePool } from '../core/hbone/index.js';
import { CertificateStore } from '../core/identity/cert-store.js';
import { holdProcessOpen } from '../core/config/hold-open.js';
import { printReadyLine } from '../core/config/ready-line.js';
import { spiffeIdFor } from '../core/identity/spiffe.js';
import type { CaClient, Credentials } from '../core/identity/types.js';
import { createLogger } from '../core/log.js';
import { createMeshMetrics } from '../core/metrics/mesh-metrics.js';
import type { WaypointConfigSource } from '../core/xds/waypoint-source.js';
import { waypointSettings, type WaypointSettings } from './config/settings.js';
import { startGateway } from './gateway/start.js';
import { WaypointRuntime } from './runtime.js';
import { WaypointServer } from './server.js';
import { WaypointTelemetry } from './telemetry.js';
import { Tracer } from './tracing.js';

const log = createLogger('waypoint');

// Each mode's modules are imported only in that mode: file mode does not load the controller
// link (gRPC, protobuf schemas), controller mode not the YAML file source and the in-process CA.
async function sources(s: WaypointSettings): Promise<{ config: WaypointConfigSource; ca: CaClient }> {
  const gateway = s.mode !== 'waypoint';
  if (s.source === 'file') {
    const [{ CertificateAuthority }, { FileWaypointSource }, { FileGatewaySource }] = await Promise.all([
      import('../core/identity/ca.js'),
      import('./config/file-source.js'),
      import('./gateway/file-source.js'),
    ]);
    const authority = await CertificateAuthority.loadOrCreate(path.join(s.stateDir, 'ca'), {
      trustDomain: s.trustDomain,
    });
    const fileLog = log.child({ component: 'config-file' });
    const file = gateway ? s.gateway.configFile : s.configFile;
    if (!file)
      throw new AmbitError('AMBIT_E_CONFIG', `file mode: no config file for --mode ${s.mode}`, {
        hint: gateway ? 'set AMBIT_GATEWAY_CONFIG_FILE' : 'set AMBIT_WAYPOINT_CONFIG_FILE',
      });
    return {
      config: gateway ? new FileGatewaySource(file, fileLog) : new FileWaypointSource(file, fileLog),
      ca: authority.asClient(),
    };
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

async function main(): Promise<void> {
  applyRelayTuning();
  const s = waypointSettings(process.argv);
  const release = holdProcessOpen(); // until it listens: it may wait long for the controller
  const { config, ca } = await sources(s);
  const identity = spiffeIdFor(s.trustDomain, s.namespace, s.serviceAccount);
  const certs = new CertificateStore({ ca, ttlSeconds: s.certTtlSeconds, log: log.child({ component: 'cert-store' }) });
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
  const gateway =
    s.mode === 'waypoint'
      ? undefined
      : await startGateway(s, { runtime, telemetry, tracer, identity, log: log.child({ component: 'gateway' }) });
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

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await config.stop();
    await gateway?.close();
    await server.close();
    await tracer.close();
    await pool.close();
    runtime.close();
    certs.close();
    await admin.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info(gateway ? `${s.mode} serving` : 'waypoint serving', {
    identity,
    hbone: hbone?.port,
    namespace: s.namespace,
    pod: s.podName,
    ...(gateway ? { ports: gateway.listeners.ports() } : {}),
  });
  release();
  printReadyLine({
    ...(gateway ? { gatewayPorts: gateway.listeners.ports().join(',') } : {}),
    hbone: hbone?.port,
    admin: admin.admin?.port,
    metrics: admin.metrics?.port,
    ready: admin.ready?.port,
  });
}

main().catch((err: unknown) => {
  log.error('waypoint failed to start', { err: describeError(err) });
  process.exit(1);
});
