// Helpers for the controller + agent end-to-end test: the controller as its own process
// (bundled like a deployed binary), the manifests it reads from its folder, and a long-lived
// echo connection from inside a pod's netns. Test code only.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { createPodSocket, listenInNetns } from '../../agent/inpod/sockets.js';
import { eventually } from '../support/agent-netns.js';
import { bundleMain } from '../support/bundle.js';
import { freePort } from '../support/net.js';
import { podExchange, type Exchange } from '../support/pod-exchange.js';
import { REPO_ROOT as REPO } from '../support/repo.js';

export interface ControllerProcess {
  readonly child: ChildProcess;
  /** JSON log lines the controller wrote on stderr, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export interface ControllerRun {
  bundle: string;
  configDir: string;
  stateDir: string;
  nodeName: string;
  ports: { grpc: number; metrics: number; ready: number };
}

/** The identity the controller's serving certificate carries (what agents pin). */
export const CONTROLLER_IDENTITY = 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller';

export interface ControllerForNode {
  readonly run: ControllerRun;
  readonly controller: ControllerProcess;
  readonly agentBundle: string;
  /** What an agent of the node joins the controller with; its state and socket under the suite's dir. */
  readonly agentEnv: Record<string, string>;
}

/**
 * Bundle the controller and the agent, start the controller on `configDir` (file source, state
 * in `dir`/controller) and write the token it created for `nodeName` where the agent reads it.
 */
export async function startControllerForNode(
  dir: string,
  configDir: string,
  nodeName: string,
): Promise<ControllerForNode> {
  const [controllerBundle, agentBundle] = await Promise.all([
    bundleMain('controller/main.ts', 'controller'),
    bundleMain('agent/main.ts', 'agent'),
  ]);
  const stateDir = path.join(dir, 'controller');
  const run: ControllerRun = {
    bundle: controllerBundle,
    configDir,
    stateDir,
    nodeName,
    ports: { grpc: await freePort(), metrics: await freePort(), ready: await freePort() },
  };
  const controller = await startOnFreePorts(run);
  // File mode: the controller created a token per node; the agent presents its node's.
  const tokenLine = (await readFile(path.join(stateDir, 'node-tokens'), 'utf8'))
    .split('\n')
    .find((l) => l.endsWith(` ${nodeName}`));
  if (!tokenLine) throw new Error(`the controller wrote no token for ${nodeName}`);
  await writeText(dir, 'agent-token', `${tokenLine.split(' ')[0]}\n`);
  const agentEnv = {
    AMBIT_CONTROLLER: `127.0.0.1:${run.ports.grpc}`,
    AMBIT_CONTROLLER_ROOTS: path.join(stateDir, 'root-cert.pem'),
    AMBIT_CONTROLLER_IDENTITY: CONTROLLER_IDENTITY,
    AMBIT_TOKEN_FILE: path.join(dir, 'agent-token'),
    AMBIT_NODE_NAME: nodeName,
    AMBIT_STATE_DIR: path.join(dir, 'agent'),
    AMBIT_AGENT_SOCKET: path.join(dir, 'agent.sock'),
  };
  return { run, controller, agentBundle, agentEnv };
}

/**
 * Start the controller, picking fresh ports when one picked as free was taken before the
 * controller bound it (suites run in parallel and pick ports the same way).
 */
async function startOnFreePorts(run: ControllerRun): Promise<ControllerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startController(run);
    } catch (err) {
      if (attempt >= 4 || !/EADDRINUSE/.test(String(err))) throw err;
      run.ports = { grpc: await freePort(), metrics: await freePort(), ready: await freePort() };
    }
  }
}

/** `ambit-controller --source file`; resolves once it logged "controller started". */
export async function startController(run: ControllerRun): Promise<ControllerProcess> {
  const child = spawn(
    process.execPath,
    [
      run.bundle,
      '--source',
      'file',
      '--config-dir',
      run.configDir,
      '--state-dir',
      run.stateDir,
      '--node-name',
      run.nodeName,
      '--host',
      '127.0.0.1',
      '--grpc-port',
      String(run.ports.grpc),
      '--metrics-port',
      String(run.ports.metrics),
      '--ready-port',
      String(run.ports.ready),
    ],
    {
      cwd: REPO,
      env: { ...process.env, AMBIT_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  let started: (() => void) | undefined;
  child.stderr?.on('data', (d: Buffer) => {
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(text) as Record<string, unknown>;
      } catch {
        rec = { msg: text };
      }
      lines.push(rec);
      if (rec.msg === 'controller started') started?.();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    started = resolve;
    void exited.then((code) =>
      reject(
        new Error(
          `controller exited (${code}) before starting:\n${lines
            .slice(-10)
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        ),
      ),
    );
  });
  return {
    child,
    logs: () => [...lines],
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

// ---- manifests ----

type Obj = Record<string, unknown>;

export const namespaceObject = (name: string, labels: Record<string, string>): Obj => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});

export const serviceAccountObject = (namespace: string, name: string): Obj => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace },
});

/** A Pod as the API server holds it: scheduled on `nodeName`, with its IP once the CNI gave it one. */
export function podObject(namespace: string, name: string, serviceAccount: string, nodeName: string, ip?: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: serviceAccount } },
    spec: { nodeName, serviceAccountName: serviceAccount, containers: [{ name: 'app', image: 'none' }] },
    status: ip ? { phase: 'Running', podIP: ip, podIPs: [{ ip }] } : { phase: 'Pending' },
  };
}

/** DENY every connection from the service account `from` to the workloads of `namespace`. */
export function denyPolicyObject(namespace: string, name: string, from: string): Obj {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec: { action: 'DENY', rules: [{ from: [{ source: { principals: [from] } }] }] },
  };
}

/** Write a multi-document YAML file atomically (the watcher never sees half a file). */
export async function writeManifests(dir: string, file: string, objects: readonly Obj[]): Promise<void> {
  await writeText(dir, file, objects.map((o) => stringify(o)).join('---\n'));
}

export async function writeText(dir: string, file: string, text: string): Promise<void> {
  const tmp = path.join(dir, `.${file}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, path.join(dir, file));
}

export async function removeManifest(dir: string, file: string): Promise<void> {
  await rm(path.join(dir, file), { force: true });
}

// ---- traffic from inside a pod ----

export type { Exchange };

/** One short connection from the pod's netns (captured like an app), given up after `timeoutMs`. */
export const exchange = (netnsPath: string, ip: string, port: number, payload: string, timeoutMs = 5000) =>
  podExchange(netnsPath, ip, port, payload, { timeoutMs });

/** A connection that stays open; `ping` sends a line and waits for its echo. */
export class LongLivedConnection {
  private received = '';
  private sent = 0;
  private closed = false;
  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.received += d;
    });
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => undefined);
  }

  static async open(netnsPath: string, ip: string, port: number): Promise<LongLivedConnection> {
    const sock = createPodSocket(netnsPath);
    const conn = new LongLivedConnection(sock);
    sock.connect(port, ip);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return conn;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send a numbered line; resolves with the echo, rejects if it does not come back in time. */
  async ping(tag: string, timeoutMs = 5000): Promise<string> {
    const line = `${tag}#${++this.sent}\n`;
    const before = this.received.length;
    this.sock.write(line);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.received.slice(before).includes(line)) return line.trim();
      if (this.closed) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no echo of ${line.trim()} (connection ${this.closed ? 'closed' : 'open'})`);
  }

  /** Half-close and wait for the server's end. */
  async end(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.sock.once('close', () => resolve()));
    this.sock.end();
    await closed;
  }
}

/** A TCP echo app listening on `port` inside a pod's netns; `onConnection` sees each accepted socket. */
export async function startEchoApp(
  netnsPath: string,
  port: number,
  onConnection?: (s: net.Socket) => void,
): Promise<net.Server> {
  const app = await listenInNetns(netnsPath, port);
  app.on('connection', (s: net.Socket) => {
    onConnection?.(s);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  return app;
}

/** Wait until the agent's config dump holds a workload with each of `ips` (`tries` × 100 ms). */
export async function waitForWorkloadIps(
  dump: () => Promise<{ workloads: ReadonlyArray<{ ips: readonly string[] }> }>,
  ips: readonly string[],
  what: string,
  tries: number,
): Promise<void> {
  await eventually(
    async () => {
      const d = await dump();
      return ips.every((ip) => d.workloads.some((w) => w.ips.includes(ip))) ? true : undefined;
    },
    what,
    tries,
  );
}

/** What a controller + agent suite started; any part may be missing when its setup failed early. */
export interface SuiteParts {
  app?: net.Server;
  agent?: { kill(): Promise<void> };
  controller?: ControllerProcess;
  network?: { destroy(): Promise<void> };
  /** Bundled binaries: each one's folder is removed. */
  bundles: ReadonlyArray<string | undefined>;
  dir?: string;
}

/** Stop and remove what a suite started, the app first and the suite's folder last. */
export async function tearDownSuite(p: SuiteParts): Promise<void> {
  const app = p.app;
  if (app) await new Promise((r) => app.close(r));
  await p.agent?.kill().catch(() => undefined);
  await p.controller?.kill().catch(() => undefined);
  await p.network?.destroy();
  for (const b of p.bundles) if (b) await rm(path.dirname(b), { recursive: true, force: true });
  if (p.dir) await rm(p.dir, { recursive: true, force: true });
}
