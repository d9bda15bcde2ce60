#!/usr/bin/env node
// ambit-controller [--source kube|file] [--config-dir DIR] [--state-dir DIR] (all settings: settings.ts)
// The control plane: reads objects (Kubernetes API or a folder of YAML), translates them,
// pushes the mesh model to agents and waypoints and signs their certificates. Prints
// `ready {json}` with its ports once it listens.
import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CertificateAuthority } from '../core/identity/ca.js';
import { createLogger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import { Controller } from './controller.js';
import { FileSource } from './sources/file.js';
import { KubeSource, loadKubeConfig } from './sources/kube.js';
import { MESH_CONFIGMAP_NAME, watchedKinds } from './sources/kube-kinds.js';
import { KubeApi } from './sources/kube-api.js';
import { createKubeWaypointReconciler, restWaypointClient } from './waypoints/index.js';
import { createKubeStatusWriter } from './status/index.js';
import type { KubeObject } from './sources/types.js';
import { loadOrCreateCaFromSecrets } from './state/ca-secret.js';
import { RootCertPublisher } from './state/root-cert-configmap.js';
import { controllerProgram, type ControllerSettings } from './settings.js';
import { printReadyLine } from '../core/config/ready-line.js';
import { runUntilSignalled } from '../core/config/component.js';
import { nodeTokenFileAuthenticator, type Authenticate } from './ca/auth.js';
import { kubeCaAuthenticator } from './ca/kube.js';
import { LEADER_LEASE_NAME, LeaderElector, replicaIdentity } from './leader/elector.js';

const log = createLogger('controller');

/** File mode: a token file for this machine's node, created on first start (mode 0600). */
async function ensureNodeTokenFile(file: string, node: string): Promise<void> {
  try {
    await access(file);
    return;
  } catch {
    /* create it */
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(
    file,
    `# token node-name (read by ambit-controller; give the token to that node's agent)\n${randomBytes(32).toString('hex')} ${node}\n`,
    { mode: 0o600, flag: 'wx' },
  );
  log.info('created node token file', { file, node });
}

/** Kube mode: the CA from its Secrets; an unreachable or refusing API server is retried, not fatal. */
async function kubeCa(api: KubeApi, settings: ControllerSettings): Promise<CertificateAuthority> {
  let delay = 500;
  for (;;) {
    try {
      return await loadOrCreateCaFromSecrets({
        api,
        namespace: settings.namespace,
        dir: settings.stateDir,
        trustDomain: settings.trustDomain,
        log,
      });
    } catch (err) {
      log.warn('cannot load the CA from the API server; retrying', {
        namespace: settings.namespace,
        err: describeError(err),
        retryInMs: delay,
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }
}

async function run(settings: ControllerSettings): Promise<void> {
  await mkdir(settings.stateDir, { recursive: true });
  let ca: CertificateAuthority;
  let authenticate: Authenticate;
  let source;
  let waypoints: ReturnType<typeof createKubeWaypointReconciler> | undefined;
  let rootCert: RootCertPublisher | undefined;
  let status: ReturnType<typeof createKubeStatusWriter> | undefined;
  let elector: LeaderElector | undefined;
  let latest: readonly KubeObject[] | undefined;
  if (settings.source === 'file') {
    ca = await CertificateAuthority.loadOrCreate(settings.stateDir, { trustDomain: settings.trustDomain });
    const tokenFile = settings.nodeTokenFile ?? path.join(settings.stateDir, 'node-tokens');
    await ensureNodeTokenFile(tokenFile, settings.nodeName);
    authenticate = nodeTokenFileAuthenticator(tokenFile);
    source = new FileSource({ path: settings.configDir! });
  } else {
    const kc = loadKubeConfig({
      inCluster: settings.kubernetesServiceHost !== undefined,
      ...(settings.kubeconfig ? { kubeconfig: settings.kubeconfig } : {}),
    });
    const api = new KubeApi(kc);
    ca = await kubeCa(api, settings);
    // Tokens for the CA's audience; an agent's node is its bound pod's spec.nodeName (read through the API).
    authenticate = kubeCaAuthenticator(kc, {
      trustDomain: settings.trustDomain,
      audience: settings.tokenAudience,
      agentServiceAccounts: [`${settings.namespace}/ambit-agent`],
    });
    source = new KubeSource({ kubeConfig: kc, kinds: watchedKinds(settings.namespace) });
    // ambit-waypoint Gateways → their ServiceAccount/Service/Deployment.
    waypoints = createKubeWaypointReconciler(kc, {
      namespace: settings.namespace,
      log: log.child({ component: 'waypoints' }),
    });
    // Agents and waypoints verify the controller with this root.
    rootCert = new RootCertPublisher(
      restWaypointClient(kc),
      ca.rootsPem,
      settings.namespace,
      log.child({ component: 'root-cert' }),
    );
    // Gateway API status: waypoint Gateways, HTTPRoutes and GRPCRoutes.
    status = createKubeStatusWriter(kc, log.child({ component: 'status' }));
    // Every replica serves discovery and the CA; only the Lease holder writes to the API.
    const publisher = rootCert;
    elector = new LeaderElector({
      client: restWaypointClient(kc),
      namespace: settings.namespace,
      name: LEADER_LEASE_NAME,
      identity: replicaIdentity(),
      log: log.child({ component: 'leader' }),
      onStartedLeading: () => {
        publisher.start();
        if (latest) writeAll(latest);
      },
    });
    elector.start();
  }
  function writeAll(objects: readonly KubeObject[]): void {
    waypoints?.update(objects);
    rootCert?.update(objects);
    status?.update(objects);
  }
  const onObjects = (objects: readonly KubeObject[]): void => {
    latest = objects;
    if (!elector || elector.isLeader) writeAll(objects);
  };
  const controller = await Controller.start({
    source,
    ca,
    authenticate,
    host: settings.host,
    identity: settings.identity,
    ...(settings.source === 'kube'
      ? { onObjects, meshConfigMap: { namespace: settings.namespace, name: MESH_CONFIGMAP_NAME } }
      : {}),
    ...(settings.source === 'file' ? { localNode: settings.nodeName } : {}),
    grpcPort: settings.grpcPort,
    metricsPort: settings.metricsPort,
    readyPort: settings.readyPort,
  });
  log.info('controller started', {
    source: settings.source,
    stateDir: settings.stateDir,
    identity: settings.identity,
    roots: path.join(settings.stateDir, 'root-cert.pem'),
    ...controller.ports,
  });
  runUntilSignalled(
    {
      drain: async () => {
        waypoints?.close();
        rootCert?.close();
        status?.close();
        // Releasing the lease lets another replica lead at once instead of after the lease duration.
        await elector?.stop();
        await controller.drain();
      },
      stop: () => controller.stop(),
    },
    log,
    { stoppingMessage: 'stopping', failedMessage: 'stop failed' },
  );
  printReadyLine(controller.ports);
}

const program = controllerProgram(async (settings) => {
  try {
    await run(settings);
  } catch (err) {
    log.error('controller failed to start', { err: describeError(err) });
    process.exit(1);
  }
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  log.error('controller failed to start', { err: describeError(err) });
  process.exit(1);
}
