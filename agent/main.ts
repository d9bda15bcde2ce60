#!/usr/bin/env node
// `ambit-agent`: the node agent. Settings from env (agent/config/env.ts). File mode
// (AMBIT_CONFIG_FILE): the mesh snapshot from a file, certificates from an in-process CA
// persisted in AMBIT_STATE_DIR/ca. Controller mode (AMBIT_CONTROLLER): discovery and the CA
// service of the controller.
import { applyRelayTuning } from '../core/hbone/tuning.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startAdminServers, type AdminServers } from '../core/admin/servers.js';
import type { ConfigSource } from '../core/config/source.js';
import { AmbitError, describeError } from '../core/errors.js';
import { CertificateAuthority } from '../core/identity/ca.js';
import { CertificateStore } from '../core/identity/cert-store.js';
import { createGrpcCaClient, tokenFromFile } from '../core/identity/grpc-ca-client.js';
import { XdsMeshSource } from '../core/xds/mesh-source.js';
import type { CaClient } from '../core/identity/types.js';
import { createLogger } from '../core/log.js';
import { createMeshMetrics } from '../core/metrics/mesh-metrics.js';
import { Agent } from './agent.js';
import { settingsFromEnv, type AgentSettings } from './config/env.js';
import { FileConfigSource } from './config/file-source.js';
import { netnsAddonStatus } from './inpod/native.js';

const log = createLogger('agent');

async function controllerMode(settings: AgentSettings): Promise<{ config: ConfigSource; ca: CaClient }> {
  const rootsFile = process.env.AMBIT_CONTROLLER_ROOTS;
  const tokenFile = process.env.AMBIT_TOKEN_FILE || '/var/run/secrets/kubernetes.io/serviceaccount/token';
  if (!rootsFile) {
    throw new AmbitError('AMBIT_E_CONFIG', 'controller mode needs AMBIT_CONTROLLER_ROOTS (PEM file of the controller CA root)', {
      hint: 'or run in file mode with AMBIT_CONFIG_FILE',
    });
  }
  const rootsPem = await readFile(rootsFile, 'utf8');
  const token = tokenFromFile(tokenFile);
  const serverIdentity = process.env.AMBIT_CONTROLLER_IDENTITY || undefined;
  const xds = new XdsMeshSource({
    address: settings.controller!, rootsPem, node: { name: settings.nodeName, role: 'agent' },
    metadata: { authorization: `Bearer ${await token()}` },
    ...(serverIdentity ? { controllerIdentity: serverIdentity } : {}),
  });
  return {
    // Pods are served only once the first snapshot is in: never without policy.
    config: { start: async (cb) => { await xds.start(cb); await xds.whenSynced(); }, stop: () => xds.stop() },
    ca: createGrpcCaClient({ address: settings.controller!, rootsPem, token, nodeName: settings.nodeName, ...(serverIdentity ? { serverIdentity } : {}) }),
  };
}

async function main(): Promise<void> {
  applyRelayTuning();
  const settings = settingsFromEnv();
  const native = netnsAddonStatus();
  if (!native.ok) throw new AmbitError('AMBIT_E_NETNS', `in-pod capture unavailable: ${native.reason}`, { hint: 'build agent/native: node scripts/build-native.mjs' });

  let config: ConfigSource;
  let ca: CaClient;
  if (settings.configFile) {
    config = new FileConfigSource(settings.configFile, { log: log.child({ component: 'config-file' }) });
    const authority = await CertificateAuthority.loadOrCreate(path.join(settings.stateDir, 'ca'), { trustDomain: settings.trustDomain });
    ca = authority.asClient();
  } else {
    ({ config, ca } = await controllerMode(settings));
  }
  const metrics = createMeshMetrics({ component: 'agent', tcp: true, processMetrics: true });
  const certs = new CertificateStore({ ca, ttlSeconds: settings.certTtlSeconds, log: log.child({ component: 'cert-store' }) });
  const agent = new Agent({ settings, config, certs, metrics, log });

  const running: { admin?: AdminServers } = {};
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    try {
      await agent.shutdown();
      await running.admin?.close();
    } catch (err) {
      log.error('shutdown failed', { err: describeError(err) });
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await agent.start();
  const p = settings.ports;
  const admin = await startAdminServers({
    ...(p.admin > 0 ? { admin: { host: settings.localHost, port: p.admin } } : {}),
    ...(p.metrics > 0 ? { metrics: { host: settings.publicHost, port: p.metrics } } : {}),
    ...(p.ready > 0 ? { ready: { host: settings.publicHost, port: p.ready } } : {}),
    isReady: () => agent.ready(),
    dump: () => agent.dump(),
    connections: () => agent.connections(),
    registry: metrics.registry,
    log: log.child({ component: 'admin' }),
  });
  running.admin = admin;
  // One line on stdout for supervisors and tests; everything else is JSON on stderr.
  process.stdout.write(`ready ${JSON.stringify({ admin: admin.admin?.port, metrics: admin.metrics?.port, ready: admin.ready?.port })}\n`);
}

main().catch((err: unknown) => {
  log.error('agent failed to start', { err: describeError(err) });
  process.exit(1);
});
