#!/usr/bin/env node
// `ambit-agent`: the node agent. Settings from env (agent/config/settings.ts). File mode
// (AMBIT_CONFIG_FILE): the mesh snapshot from a file, certificates from an in-process CA
// persisted in AMBIT_STATE_DIR/ca. Controller mode (AMBIT_CONTROLLER): discovery and the CA
// service of the controller.
import { applyRelayTuning } from '../core/hbone/tuning.js';
import path from 'node:path';
import { startAdminServers, type AdminServers } from '../core/admin/servers.js';
import { runUntilSignalled } from '../core/config/component.js';
import type { ConfigSource } from '../core/config/source.js';
import { holdProcessOpen } from '../core/config/hold-open.js';
import { printReadyLine } from '../core/config/ready-line.js';
import { AmbitError, describeError } from '../core/errors.js';
import { CertificateStore } from '../core/identity/cert-store.js';
import type { CaClient } from '../core/identity/types.js';
import { createLogger } from '../core/log.js';
import { createMeshMetrics } from '../core/metrics/mesh-metrics.js';
import { Agent } from './agent.js';
import { settingsFromEnv, type AgentSettings } from './config/settings.js';
import { netnsAddonStatus } from './inpod/native.js';

const log = createLogger('agent');

// Each mode's modules are imported only in that mode: the controller link (gRPC, protobuf
// schemas: ~9 MiB of RSS) is not loaded in file mode, nor the file source (YAML) and the
// in-process CA in controller mode.
async function controllerMode(settings: AgentSettings): Promise<{ config: ConfigSource; ca: CaClient }> {
  const [{ controllerLink }, { XdsMeshSource }, { createGrpcCaClient }] = await Promise.all([
    import('../core/config/controller-link.js'),
    import('../core/xds/mesh-source.js'),
    import('../core/identity/grpc-ca-client.js'),
  ]);
  // settingsFromEnv refuses controller mode without these three.
  const link = await controllerLink({
    address: settings.controller!,
    rootsFile: settings.controllerRoots!,
    identity: settings.controllerIdentity!,
    tokenFile: settings.tokenFile,
    log: log.child({ component: 'controller-link' }),
  });
  const xds = new XdsMeshSource({
    address: link.address,
    rootsPem: link.rootsPem,
    node: { name: settings.nodeName, role: 'agent' },
    token: link.token,
    controllerIdentity: link.identity,
    // On demand: this node's workloads, and each destination asked for the first time it is met.
    onDemand: settings.discovery !== 'full',
  });
  const lookup = xds.lookup;
  return {
    // Pods are served only once the first snapshot is in: never without policy.
    config: {
      start: async (cb) => {
        await xds.start(cb);
        await xds.whenSynced();
      },
      stop: () => xds.stop(),
      ...(lookup ? { lookup } : {}),
    },
    ca: createGrpcCaClient({
      address: link.address,
      rootsPem: link.rootsPem,
      token: link.token,
      nodeName: settings.nodeName,
      serverIdentity: link.identity,
    }),
  };
}

async function main(): Promise<void> {
  applyRelayTuning();
  const settings = settingsFromEnv();
  const release = holdProcessOpen(); // until it listens: it may wait long for the controller
  const native = netnsAddonStatus();
  if (!native.ok)
    throw new AmbitError('AMBIT_E_NETNS', `in-pod capture unavailable: ${native.reason}`, {
      hint: 'build agent/native: node scripts/build-native.mjs',
    });

  let config: ConfigSource;
  let ca: CaClient;
  if (settings.configFile) {
    const [{ FileConfigSource }, { CertificateAuthority }] = await Promise.all([
      import('./config/file-source.js'),
      import('../core/identity/ca.js'),
    ]);
    config = new FileConfigSource(settings.configFile, { log: log.child({ component: 'config-file' }) });
    const authority = await CertificateAuthority.loadOrCreate(path.join(settings.stateDir, 'ca'), {
      trustDomain: settings.trustDomain,
    });
    ca = authority.asClient();
  } else {
    ({ config, ca } = await controllerMode(settings));
  }
  const metrics = createMeshMetrics({ component: 'agent', tcp: true, processMetrics: true });
  const certs = new CertificateStore({
    ca,
    ttlSeconds: settings.certTtlSeconds,
    log: log.child({ component: 'cert-store' }),
  });
  const agent = new Agent({ settings, config, certs, metrics, log });

  const running: { admin?: AdminServers } = {};
  // Signals are handled from here on: a SIGTERM while waiting for the controller still drains.
  runUntilSignalled(
    {
      drain: () => agent.drain(),
      stop: async () => {
        await agent.stop();
        await running.admin?.close();
      },
    },
    log,
    { failedExitCode: 0 },
  );

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
    // POST /logging and other state changes only with this bearer token (AMBIT_ADMIN_TOKEN).
    ...(settings.adminToken ? { mutationToken: settings.adminToken } : {}),
    log: log.child({ component: 'admin' }),
  });
  running.admin = admin;
  // One line on stdout for supervisors and tests; everything else is JSON on stderr.
  release();
  printReadyLine({ admin: admin.admin?.port, metrics: admin.metrics?.port, ready: admin.ready?.port });
}

main().catch((err: unknown) => {
  log.error('agent failed to start', { err: describeError(err) });
  process.exit(1);
});
