#!/usr/bin/env node
// ambit-controller [--source kube|file] [--config-dir DIR] [--state-dir DIR]
// The control plane: reads objects (Kubernetes API or a folder of YAML), translates them,
// pushes the mesh model to agents and waypoints and signs their certificates. Ports can be
// moved with flags or env (AMBIT_GRPC_PORT, AMBIT_METRICS_PORT, AMBIT_READY_PORT) for tests.
import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CertificateAuthority } from '../core/identity/ca.js';
import { createLogger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import { Controller } from './controller.js';
import { FileSource } from './sources/file.js';
import { KubeSource, loadKubeConfig } from './sources/kube.js';
import { KubeApi } from './sources/kube-api.js';
import { createKubeWaypointReconciler } from './waypoints/index.js';
import type { KubeObject } from './sources/types.js';
import { loadOrCreateCaFromSecrets } from './state/ca-secret.js';
import { cachedTokenReview } from './state/token-cache.js';
import { nodeTokenFileAuthenticator, tokenReviewAuthenticator, type Authenticate } from './ca/auth.js';

const log = createLogger('controller');

interface Flags {
  source: 'kube' | 'file';
  configDir?: string;
  stateDir: string;
  trustDomain: string;
  nodeName: string;
  nodeTokenFile?: string;
  namespace: string;
  host: string;
  grpcPort: string;
  metricsPort: string;
  readyPort: string;
}

const port = (v: string, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag}: "${v}" is not a port number`);
  return n;
};

/** File mode: a token file for this machine's node, created on first start (mode 0600). */
async function ensureNodeTokenFile(file: string, node: string): Promise<void> {
  try { await access(file); return; } catch { /* create it */ }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `# token node-name (read by ambit-controller; give the token to that node's agent)\n${randomBytes(32).toString('hex')} ${node}\n`, { mode: 0o600, flag: 'wx' });
  log.info('created node token file', { file, node });
}

async function run(flags: Flags): Promise<void> {
  await mkdir(flags.stateDir, { recursive: true });
  let ca: CertificateAuthority;
  let authenticate: Authenticate;
  let source;
  let waypoints: ReturnType<typeof createKubeWaypointReconciler> | undefined;
  if (flags.source === 'file') {
    ca = await CertificateAuthority.loadOrCreate(flags.stateDir, { trustDomain: flags.trustDomain });
    if (!flags.configDir) throw new Error('--source file needs --config-dir DIR');
    const tokenFile = flags.nodeTokenFile ?? path.join(flags.stateDir, 'node-tokens');
    await ensureNodeTokenFile(tokenFile, flags.nodeName);
    authenticate = nodeTokenFileAuthenticator(tokenFile);
    source = new FileSource({ path: flags.configDir });
  } else {
    const kc = loadKubeConfig();
    const api = new KubeApi(kc);
    ca = await loadOrCreateCaFromSecrets({ api, namespace: flags.namespace, dir: flags.stateDir, trustDomain: flags.trustDomain, log });
    authenticate = tokenReviewAuthenticator({ reviewToken: cachedTokenReview((token) => api.reviewToken(token)), trustDomain: flags.trustDomain });
    source = new KubeSource({ kubeConfig: kc });
    // ambit-waypoint Gateways → their ServiceAccount/Service/Deployment.
    waypoints = createKubeWaypointReconciler(kc, { namespace: flags.namespace, log: log.child({ part: 'waypoints' }) });
  }
  const controller = await Controller.start({
    source, ca, authenticate, host: flags.host,
    ...(waypoints ? { onObjects: (objects: readonly KubeObject[]) => waypoints.update(objects) } : {}),
    ...(flags.source === 'file' ? { localNode: flags.nodeName } : {}),
    grpcPort: port(flags.grpcPort, '--grpc-port'), metricsPort: port(flags.metricsPort, '--metrics-port'), readyPort: port(flags.readyPort, '--ready-port'),
  });
  log.info('controller started', { source: flags.source, stateDir: flags.stateDir, roots: path.join(flags.stateDir, 'root-cert.pem'), ...controller.ports });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    waypoints?.close();
    controller.stop().then(() => process.exit(0), (err: unknown) => { log.error('stop failed', { error: describeError(err) }); process.exit(1); });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

const program = new Command('ambit-controller')
  .description('Ambit control plane: translate mesh config, push it to agents and waypoints, sign their certificates')
  .addOption(new Option('--source <kind>', 'where objects come from').choices(['kube', 'file']).default('kube'))
  .option('--config-dir <dir>', 'folder of YAML manifests (file source)')
  .option('--state-dir <dir>', 'CA root and key (Istio cacerts layout; kube mode: mirrored from the ambit-ca Secret), node tokens', process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit/controller')
  .option('--trust-domain <td>', 'SPIFFE trust domain', process.env.AMBIT_TRUST_DOMAIN ?? 'cluster.local')
  .option('--node-name <name>', 'this machine\'s node (file mode: pods without spec.nodeName run here)', process.env.AMBIT_NODE_NAME ?? hostname())
  .option('--node-token-file <file>', 'file mode: "<token> <node>" lines authenticating agents (default <state-dir>/node-tokens)')
  .option('--namespace <ns>', 'kube mode: namespace of the CA Secrets (cacerts, ambit-ca)', process.env.POD_NAMESPACE ?? 'ambit-system')
  .option('--host <addr>', 'address to listen on', process.env.AMBIT_CONTROLLER_HOST ?? '0.0.0.0')
  .option('--grpc-port <port>', 'discovery + CA (TLS)', process.env.AMBIT_GRPC_PORT ?? '15012')
  .option('--metrics-port <port>', 'Prometheus /metrics', process.env.AMBIT_METRICS_PORT ?? '15014')
  .option('--ready-port <port>', '/healthz/ready', process.env.AMBIT_READY_PORT ?? '15021')
  .action(async (flags: Flags) => {
    try {
      await run(flags);
    } catch (err) {
      log.error('controller failed to start', { error: describeError(err) });
      process.exit(1);
    }
  });

await program.parseAsync(process.argv);
