#!/usr/bin/env node
// `ambit-waypoint`: a namespace's waypoint (and, with --mode, an ingress/egress gateway).
// Controller mode (AMBIT_CONTROLLER): L7 config and certificate from the controller.
// File mode (AMBIT_WAYPOINT_CONFIG_FILE): config from a file, certificate from an
// in-process CA persisted in AMBIT_STATE_DIR/ca.
import { applyRelayTuning } from '../core/hbone/tuning.js';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { startAdminServers } from '../core/admin/servers.js';
import { AmbitError, describeError } from '../core/errors.js';
import { HbonePool } from '../core/hbone/index.js';
import { CertificateAuthority } from '../core/identity/ca.js';
import { CertificateStore } from '../core/identity/cert-store.js';
import { createGrpcCaClient, tokenFromFile } from '../core/identity/grpc-ca-client.js';
import { spiffeIdFor } from '../core/identity/spiffe.js';
import type { CaClient, Credentials } from '../core/identity/types.js';
import { createLogger } from '../core/log.js';
import { createMeshMetrics } from '../core/metrics/mesh-metrics.js';
import { XdsWaypointSource, type WaypointConfigSource } from '../core/xds/waypoint-source.js';
import { FileWaypointSource } from './config/file-source.js';
import { waypointSettings, type WaypointSettings } from './config/settings.js';
import { WaypointRuntime } from './runtime.js';
import { WaypointServer } from './server.js';
import { WaypointTelemetry } from './telemetry.js';
import { Tracer } from './tracing.js';

const log = createLogger('waypoint');

async function sources(s: WaypointSettings): Promise<{ config: WaypointConfigSource; ca: CaClient }> {
  if (s.configFile) {
    const authority = await CertificateAuthority.loadOrCreate(path.join(s.stateDir, 'ca'), { trustDomain: s.trustDomain });
    return { config: new FileWaypointSource(s.configFile, log.child({ component: 'config-file' })), ca: authority.asClient() };
  }
  const rootsFile = process.env.AMBIT_CONTROLLER_ROOTS;
  if (!rootsFile) throw new AmbitError('AMBIT_E_CONFIG', 'controller mode needs AMBIT_CONTROLLER_ROOTS (PEM of the controller CA root)');
  const rootsPem = await readFile(rootsFile, 'utf8');
  const token = tokenFromFile(process.env.AMBIT_TOKEN_FILE || '/var/run/secrets/kubernetes.io/serviceaccount/token');
  const serverIdentity = process.env.AMBIT_CONTROLLER_IDENTITY || undefined;
  return {
    config: new XdsWaypointSource({
      address: s.controller!, rootsPem, node: { name: `${s.namespace}/${s.serviceAccount}`, role: 'waypoint', namespace: s.namespace },
      metadata: { authorization: `Bearer ${await token()}` },
      ...(serverIdentity ? { controllerIdentity: serverIdentity } : {}),
    }),
    ca: createGrpcCaClient({ address: s.controller!, rootsPem, token, ...(serverIdentity ? { serverIdentity } : {}) }),
  };
}

async function main(): Promise<void> {
  applyRelayTuning();
  const s = waypointSettings(process.argv);
  if (s.mode !== 'waypoint') {
    throw new AmbitError('AMBIT_E_CONFIG', `--mode ${s.mode} is not available yet`, { hint: 'run as a waypoint (--mode waypoint)' });
  }
  const { config, ca } = await sources(s);
  const identity = spiffeIdFor(s.trustDomain, s.namespace, s.serviceAccount);
  const certs = new CertificateStore({ ca, ttlSeconds: s.certTtlSeconds, log: log.child({ component: 'cert-store' }) });
  let creds: Credentials = await certs.get(identity);
  certs.onRotate((c) => { if (c.identity === identity) creds = c; });
  const credentials = (): Credentials => creds;

  const metrics = createMeshMetrics({ component: 'waypoint', http: true, tcp: true, processMetrics: true });
  metrics.setCertificateSource(() => certs.expiries());
  const pool = new HbonePool({ log: log.child({ component: 'hbone-pool' }) });
  const runtime = new WaypointRuntime({ pool, credentials, log, localIp: s.podIp, hbonePort: s.upstreamHbonePort, metrics });
  const telemetry = new WaypointTelemetry(metrics, s.accessLogging);
  const otlp = process.env.AMBIT_OTLP_ENDPOINT || undefined;
  const tracer = new Tracer({ serviceName: `${s.namespace}.waypoint`, log: log.child({ component: 'tracing' }), ...(otlp ? { endpoint: otlp } : {}) });
  const server = new WaypointServer({
    credentials, trustDomain: s.trustDomain, transports: runtime.transports, log,
    pipeline: () => runtime.pipeline(), telemetry, selfIdentity: () => identity, tracer,
  });
  await config.start((cfg, _gateways, workloads) => runtime.apply(cfg, workloads));
  const hbone = await server.listen({ host: s.hboneHost, port: s.ports.hbone });
  const admin = await startAdminServers({
    ...(s.ports.admin > 0 ? { admin: { host: '127.0.0.1', port: s.ports.admin } } : {}),
    ...(s.ports.metrics > 0 ? { metrics: { port: s.ports.metrics } } : {}),
    ...(s.ports.ready > 0 ? { ready: { port: s.ports.ready } } : {}),
    isReady: () => runtime.pipeline() !== undefined,
    dump: () => ({ identity, certificates: certs.expiries(), ...runtime.dump() }),
    connections: () => server.stats(),
    registry: metrics.registry,
    log: log.child({ component: 'admin' }),
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await config.stop();
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
  log.info('waypoint serving', { identity, hbone: hbone?.port, namespace: s.namespace });
  process.stdout.write(`ready ${JSON.stringify({ hbone: hbone?.port, admin: admin.admin?.port, metrics: admin.metrics?.port })}\n`);
}

main().catch((err: unknown) => {
  log.error('waypoint failed to start', { err: describeError(err) });
  process.exit(1);
});
