// `ambitctl local up -f DIR`: what a kubelet and an API server would do, on one machine.
// 1. plan (pods, IPs, VIPs) and write the controller's config folder; 2. start the
// controller (file source) and the agent (controller mode, enrolment socket in the state
// dir); 3. per pod: /etc/netns/<ns>/hosts, netns + CNI chain ADD (bridge, host-local,
// ambit-cni: the agent acks once the pod's listeners and certificate are up), then its
// command inside the netns (a waypoint pod runs ambit-waypoint, see waypoints.ts; waypoints
// start first); 4. `ready` on stdout once the agent's /config_dump holds every enrolled pod
// and its certificate and every waypoint serves its namespace's config. SIGINT/SIGTERM: tear it all down (teardown.ts).
import { randomBytes } from 'node:crypto';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { readFileSync } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { readManifests } from '../../controller/sources/file-read.js';
import type { KubeObject } from '../../controller/sources/types.js';
import { AmbitError, describeError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import { addPodNetwork, deletePodNetwork, prepareNetwork, reassertPodNetworks, run } from './cni.js';
import { builtMain } from './paths.js';
import { hostsFileFor, planAddedPod, planLocal, podObject, type LocalPlan, type PlannedPod } from './plan.js';
import { insideUserNamespace, nodePorts, prepareUserNamespace, serveRelaySockets } from './rootless.js';
import { freePorts, frontAgentPorts, type AgentFront, type AgentPortSet } from './agent-ports.js';
import { CONTROL_SOCKET, serveControl, type ControlServer } from './control.js';
import { startProcess, stopProcess, type Started, type StartOptions } from './processes.js';
import { Supervisor } from './supervisor.js';
import { detachFromTerminal } from './terminal.js';
import { isAlive, portsFor, readRecord, writeRecord, type LocalRecord } from './state.js';
import { tearDown } from './teardown.js';
import { startWaypointBalancer, type WaypointBalancer } from './waypoint-balancer.js';
import { copyManifestCredentials, exposeIngressPorts, gatewayEnv, ingressHostPorts } from './gateways.js';
import { addOutsideHostNetwork, hostVethName, serverNamesFor, writeOutsideHostPki } from './outside-hosts.js';
import {
  bridgeWaypointPorts,
  IN_POD,
  issueWaypointToken,
  netnsPath,
  waypointDump,
  waypointEnv,
  localCredentialsDir,
  waypointHostPort,
  type WaypointPorts,
} from './waypoints.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';

const CONTROLLER_IDENTITY = 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller';

export interface UpOptions {
  dir: string;
  stateDir: string;
  bridge: string;
  podCidr: string;
  netnsPrefix: string;
  portOffset: number;
  nodeName: string;
  /** Objects added to DIR's (the live view's traffic generator). */
  extraObjects?: readonly KubeObject[];
  /** Called once `ready` is printed (the live view hooks in here). */
  onReady?: (ctx: RunningMesh) => Promise<void> | void;
}

export interface RunningMesh {
  readonly record: LocalRecord;
  readonly plan: LocalPlan;
  readonly log: Logger;
  /** Resolves when teardown starts. */
  readonly stopping: Promise<string>;
  /** The processes of the mesh, their restarts. */
  readonly supervisor: Supervisor;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  failed?: () => string | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed?.();
    if (why) throw new AmbitError('AMBIT_E_INTERNAL', `${what}: ${why}`);
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new AmbitError('AMBIT_E_TIMEOUT', `timed out waiting for ${what}`, {
        hint: 'see the logs in <state-dir>/logs',
      });
    await sleep(200);
  }
}

/** Rejects when `stop` resolves first (a stop asked for while waiting). */
function abortable<T>(p: Promise<T>, stop: Promise<string>): Promise<T> {
  return Promise.race([
    p,
    stop.then((why) => {
      throw new AmbitError('AMBIT_E_INTERNAL', `stopped: ${why}`);
    }),
  ]);
}

// Each started process's `ready` line (the agent and waypoints print one once they serve).
const readyLines = new WeakMap<Started, Promise<void>>();

function startReporting(o: StartOptions): Started {
  let seen!: () => void;
  const ready = new Promise<void>((r) => {
    seen = r;
  });
  const s = startProcess({
    ...o,
    onStdoutLine: (line) => {
      o.onStdoutLine?.(line);
      if (line.startsWith('ready')) seen();
    },
  });
  const readyOrExit = Promise.race([
    ready,
    s.exited.then((code) => {
      throw new AmbitError('AMBIT_E_INTERNAL', `${o.role} exited (${code}) before it was ready`);
    }),
  ]);
  readyOrExit.catch(() => undefined); // only a restart waits on it
  readyLines.set(s, readyOrExit);
  return s;
}

const readyLine =
  (timeoutMs: number) =>
  (s: Started): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new AmbitError('AMBIT_E_TIMEOUT', `${s.role} ${s.pod ?? ''}: no ready line within ${timeoutMs} ms`)),
        timeoutMs,
      );
      (readyLines.get(s) ?? Promise.resolve()).then(resolve, reject).finally(() => clearTimeout(timer));
    });

const tcpOpen = (port: number) =>
  new Promise<boolean | undefined>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(undefined));
  });

/** Read while the agent starts: a section may be missing. */
type AgentDump = Partial<AgentConfigDump>;

export async function agentDump(adminPort: number): Promise<AgentDump> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/config_dump`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`config_dump: HTTP ${res.status}`);
  return (await res.json()) as AgentDump;
}

function podEnv(pod: PlannedPod, plan: LocalPlan): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...(process.env.LANG ? { LANG: process.env.LANG } : {}),
    POD_NAME: pod.name,
    POD_NAMESPACE: pod.namespace,
    POD_IP: pod.ip,
    NODE_NAME: plan.nodeName,
    SERVICE_ACCOUNT: pod.serviceAccount,
    ...pod.container!.env,
  };
}

export function netnsNameOf(prefix: string, pod: Pick<PlannedPod, 'namespace' | 'name'>): string {
  return `${prefix}${pod.namespace}-${pod.name}`.slice(0, 60);
}

export async function localUp(o: UpOptions): Promise<number> {
  const log = createLogger('ambitctl-local');
  if (process.platform !== 'linux')
    throw new AmbitError('AMBIT_E_NETNS', `local up needs Linux network namespaces (this is ${process.platform})`);
  if (insideUserNamespace()) prepareUserNamespace(path.resolve(o.stateDir), log);
  else if (process.getuid?.() !== 0) {
    throw new AmbitError(
      'AMBIT_E_NETNS',
      'local up needs root: it creates network namespaces, a bridge and iptables rules',
      {
        hint: 'run it with sudo, or inside `unshare --user --map-root-user --net --mount` (then node ports stay inside that namespace)',
      },
    );
  }
  const stateDir = path.resolve(o.stateDir);
  const old = await readRecord(stateDir);
  if (old && old.pid !== process.pid && isAlive(old.pid)) {
    throw new AmbitError('AMBIT_E_CONFIG', `a local mesh is already running from ${stateDir} (pid ${old.pid})`, {
      hint: 'stop it with Ctrl-C, or `ambitctl local down`',
    });
  }
  if (old) {
    log.warn('cleaning up a local mesh left behind', { stateDir, pid: old.pid });
    await tearDown(old, log);
  }

  // Never share (and later delete) a bridge this run did not create.
  if ((await run('ip', ['link', 'show', o.bridge])).code === 0) {
    throw new AmbitError(
      'AMBIT_E_NETNS',
      `the bridge ${o.bridge} already exists (another local mesh, or something else on this machine)`,
      { hint: 'stop the other mesh (`ambitctl local down --state-dir …`), or pick another --bridge and --pod-cidr' },
    );
  }
  const plan = await planLocal(o.dir, {
    podCidr: o.podCidr,
    nodeName: o.nodeName,
    ...(o.extraObjects ? { extraObjects: o.extraObjects } : {}),
  });
  for (const p of plan.problems) log.warn('object rejected by the translator', { problem: p });
  log.info('plan', {
    pods: plan.pods.length,
    services: plan.serviceVips.length,
    podCidr: plan.podCidr,
    bridge: o.bridge,
  });

  const ports = portsFor(o.portOffset);
  const record: LocalRecord = {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    dir: plan.dir,
    stateDir,
    configDir: path.join(stateDir, 'config'),
    bridge: o.bridge,
    podCidr: plan.podCidr,
    nodeName: plan.nodeName,
    ports,
    pods: [],
    processes: [],
    etcNetns: [],
    ...(insideUserNamespace() ? { userns: { pid: process.pid } } : {}),
    planned: plan.pods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      netnsName: netnsNameOf(o.netnsPrefix, p),
      ip: p.ip,
      enrolled: p.enrolled,
      labels: { ...p.labels },
    })),
    serviceVips: plan.serviceVips.map((s) => ({ namespace: s.namespace, name: s.name, vips: s.vips })),
    // Waypoints first, then gateway pods: a waypoint keeps its admin port whatever gateways the folder has.
    waypoints: [...plan.pods.filter((p) => p.waypoint && !p.gateway), ...plan.pods.filter((p) => p.gateway)].map(
      (p, i) => ({
        namespace: p.namespace,
        name: p.waypoint!.gateway,
        pod: p.name,
        netnsName: netnsNameOf(o.netnsPrefix, p),
        ip: p.ip,
        identity: p.identity,
        port: waypointHostPort(o.portOffset, i),
      }),
    ),
  };
  const logs = path.join(stateDir, 'logs');
  await mkdir(logs, { recursive: true });
  await rm(record.configDir, { recursive: true, force: true });
  for (const [rel, text] of plan.files) {
    await mkdir(path.dirname(path.join(record.configDir, rel)), { recursive: true });
    await writeFile(path.join(record.configDir, rel), text);
  }
  const token = randomBytes(32).toString('hex');
  await writeFile(path.join(stateDir, 'node-tokens'), `${token} ${plan.nodeName}\n`, { mode: 0o600 });
  await writeFile(path.join(stateDir, 'agent-token'), `${token}\n`, { mode: 0o600 });
  const waypointTokens = new Map<string, string>();
  for (const p of plan.pods.filter((x) => x.waypoint))
    waypointTokens.set(p.uid, await issueWaypointToken(stateDir, path.join(stateDir, 'node-tokens'), p));
  await writeRecord(record);

  let serving = false;
  let relays: net.Server[] = [];
  let control: ControlServer | undefined;
  const waypointPorts: WaypointPorts[] = [];
  const balancers = new Map<string, WaypointBalancer>();
  let front: AgentFront | undefined;
  const waypointsReady = new Set<string>();
  let stopReason: ((r: string) => void) | undefined;
  const stopping = new Promise<string>((r) => {
    stopReason = r;
  });
  const supervisor = new Supervisor({
    log,
    processes: record.processes,
    onChange: () => {
      void writeRecord(record).catch(() => undefined);
    },
    onCrash: (unit, code) => {
      if (serving || unit.startsWith('pod/')) return;
      // Before `ready` a component that exits is a broken setup, not a crash to heal: stop, and
      // show why now (the state dir and its logs go away with the teardown).
      let tail: string[] = [];
      try {
        tail = readFileSync(logFileOf(unit), 'utf8').trim().split('\n').slice(-5);
      } catch {
        /* no log */
      }
      log.error(`${unit} exited`, { code, lastLines: tail });
      stopReason?.(`${unit} exited (${code})`);
    },
  });
  const logFileOf = (unit: string): string => {
    const [kind, ns, name] = unit.split('/');
    return path.join(
      logs,
      !ns ? `${kind}.log` : kind === 'waypoint' ? `waypoint.${ns}.${name}.log` : `${ns}.${name}.log`,
    );
  };
  // `on`, not `once`: a second Ctrl-C must not kill the process half-way through the teardown.
  let signalled = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (signalled) {
        log.warn('already tearing down; please wait', { signal: sig });
        return;
      }
      signalled = true;
      stopReason?.(sig);
    });
  }
  // A closed terminal: the mesh keeps running (stop it with `local down`); logs go to a file,
  // so neither they nor the teardown later die writing to a terminal that is gone.
  process.on('SIGHUP', () => detachFromTerminal(path.join(logs, 'ambitctl.log'), log));
  // The waits below give up as soon as a stop was asked for or a component died.
  let stopWhy: string | undefined;
  void stopping.then((r) => {
    stopWhy = r;
  });
  const early = () => stopWhy;

  let code = 0;
  try {
    const controllerDir = path.join(stateDir, 'controller');
    const controllerUp = () =>
      waitFor(
        'the controller',
        60_000,
        async () =>
          (await tcpOpen(ports.controllerGrpc)) && access(path.join(controllerDir, 'root-cert.pem')).then(() => true),
        early,
      );
    supervisor.add({
      name: 'controller',
      policy: 'Always',
      ready: async () => {
        await controllerUp();
      },
      start: () =>
        startProcess({
          role: 'controller',
          cmd: process.execPath,
          logFile: path.join(logs, 'controller.log'),
          env: { ...process.env, AMBIT_LOG_LEVEL: process.env.AMBIT_LOG_LEVEL ?? 'info' },
          args: [
            builtMain('controller'),
            '--source',
            'file',
            '--config-dir',
            record.configDir,
            '--state-dir',
            controllerDir,
            '--node-name',
            plan.nodeName,
            '--node-token-file',
            path.join(stateDir, 'node-tokens'),
            '--host',
            '127.0.0.1',
            '--grpc-port',
            String(ports.controllerGrpc),
            '--metrics-port',
            String(ports.controllerMetrics),
            '--ready-port',
            String(ports.controllerReady),
          ],
        }),
    });
    await writeRecord(record);
    await controllerUp();
    log.info('controller up', { grpc: ports.controllerGrpc });

    const agentSocket = path.join(stateDir, 'agent.sock');
    // The node ports are local up's, forwarded to the serving agent (agent-ports.ts); each
    // start takes the other internal set, so a new agent can start beside the old one.
    front = await frontAgentPorts({
      admin: ports.agentAdmin,
      metrics: ports.agentMetrics,
      ready: ports.agentReady,
      socks5: ports.agentSocks5,
    });
    const free = await freePorts(8);
    const portSets: AgentPortSet[] = [0, 4].map((i) => ({
      admin: free[i]!,
      metrics: free[i + 1]!,
      ready: free[i + 2]!,
      socks5: free[i + 3]!,
    }));
    let agentStarts = 0;
    const agent = supervisor.add({
      name: 'agent',
      policy: 'Always',
      graceMs: 8000,
      ready: readyLine(60_000),
      start: () => {
        const set = portSets[agentStarts++ % 2]!;
        return startReporting({
          role: 'agent',
          cmd: process.execPath,
          // The agent's V8 flags, as its image's ENTRYPOINT passes them (agent/node-flags.ts).
          args: [...AGENT_NODE_FLAGS, builtMain('agent')],
          logFile: path.join(logs, 'agent.log'),
          onStdoutLine: (line) => {
            if (line.startsWith('ready')) front?.target(set);
          },
          env: {
            ...process.env,
            AMBIT_CONTROLLER: `127.0.0.1:${ports.controllerGrpc}`,
            AMBIT_CONTROLLER_ROOTS: path.join(controllerDir, 'root-cert.pem'),
            AMBIT_CONTROLLER_IDENTITY: CONTROLLER_IDENTITY,
            AMBIT_TOKEN_FILE: path.join(stateDir, 'agent-token'),
            AMBIT_NODE_NAME: plan.nodeName,
            AMBIT_STATE_DIR: path.join(stateDir, 'agent'),
            AMBIT_AGENT_SOCKET: agentSocket,
            AMBIT_LOCAL_HOST: '127.0.0.1',
            AMBIT_PUBLIC_HOST: '127.0.0.1',
            AMBIT_ADMIN_PORT: String(set.admin),
            AMBIT_METRICS_PORT: String(set.metrics),
            AMBIT_READY_PORT: String(set.ready),
            AMBIT_SOCKS5_PORT: String(set.socks5),
            AMBIT_DRAIN_MS: '2000',
          },
        });
      },
    });
    await writeRecord(record);
    await abortable(readyLine(60_000)(agent), stopping);
    const enrolled = plan.pods.filter((p) => p.enrolled);
    await waitFor(
      'the agent to receive the pods from the controller',
      60_000,
      async () => {
        const uids = new Set((await agentDump(ports.agentAdmin)).workloads?.map((w) => w.uid));
        return enrolled.every((p) => uids.has(p.uid)) || undefined;
      },
      early,
    );
    log.info('agent up', { admin: ports.agentAdmin, metrics: ports.agentMetrics });

    record.network = await prepareNetwork({
      stateDir,
      bridge: o.bridge,
      subnet: plan.podCidr,
      gateway: plan.gateway,
      agentSocket,
    });
    await writeRecord(record);
    // Waypoints of several replicas: their shared address on a netns of its own, with the balancer.
    for (const wa of plan.waypointAddresses) {
      const lb = {
        namespace: wa.namespace,
        name: `${wa.gateway}-waypoint-lb`,
        uid: `local/${wa.namespace}/${wa.gateway}-waypoint-lb`,
        ip: wa.address,
      };
      const netnsName = netnsNameOf(o.netnsPrefix, lb);
      record.planned.push({
        namespace: lb.namespace,
        name: lb.name,
        netnsName,
        ip: lb.ip,
        enrolled: false,
        labels: {},
      });
      const bridgeOnly = {
        ...record.network,
        conflist: {
          ...record.network.conflist,
          plugins: record.network.conflist.plugins.filter((x) => x.type !== 'ambit-cni'),
        },
      };
      record.pods.push(await addPodNetwork(bridgeOnly, { ...lb, netnsName }));
      await writeRecord(record);
      const replicas = plan.pods
        .filter((p) => p.waypoint?.gateway === wa.gateway && p.namespace === wa.namespace)
        .map((p) => p.ip);
      balancers.set(
        `${wa.namespace}/${wa.gateway}`,
        await startWaypointBalancer({
          netnsPath: netnsPath(netnsName),
          address: wa.address,
          port: IN_POD.hbone,
          replicas,
          log,
        }),
      );
    }
    // Hosts outside the mesh first: the apps may call them from their first request.
    for (const [i, host] of plan.outsideHosts.entries()) {
      const netnsName = netnsNameOf(o.netnsPrefix, host);
      record.planned.push({
        namespace: host.namespace,
        name: host.name,
        netnsName,
        ip: host.address,
        enrolled: false,
        labels: {},
      });
      await writeRecord(record);
      await addOutsideHostNetwork({
        netnsName,
        hostVeth: hostVethName(o.netnsPrefix, i),
        address: host.address,
        bridge: o.bridge,
      });
      const tlsEnv = await writeOutsideHostPki({
        stateDir,
        credentialsDir: localCredentialsDir(stateDir),
        host,
        serverNames: serverNamesFor(plan.snapshot.services, host.address),
      });
      const [cmd, ...args] = host.command;
      supervisor.add({
        name: `pod/${host.namespace}/${host.name}`,
        policy: 'Always',
        graceMs: 3000,
        start: () =>
          startProcess({
            role: 'pod',
            pod: `${host.namespace}/${host.name}`,
            cmd: 'ip',
            cwd: plan.dir,
            env: {
              PATH: process.env.PATH ?? '/usr/bin:/bin',
              POD_NAME: host.name,
              POD_IP: host.address,
              ...tlsEnv,
              ...host.env,
            },
            args: ['netns', 'exec', netnsName, cmd === 'node' ? process.execPath : cmd!, ...args],
            logFile: path.join(logs, `${host.namespace}.${host.name}.log`),
          }),
      });
      await writeRecord(record);
      log.info('host outside the mesh started', { pod: `${host.namespace}/${host.name}`, ip: host.address });
    }
    await copyManifestCredentials(plan.dir, localCredentialsDir(stateDir), log);
    // Waypoints first (the pods' service traffic goes through them from its first request);
    // the added pods (the live view's traffic generator) last, once the apps they call run.
    const added = new Set((o.extraObjects ?? []).map((x) => `${x.metadata.namespace ?? 'default'}/${x.metadata.name}`));
    const isAdded = (p: PlannedPod) => added.has(`${p.namespace}/${p.name}`);
    const order = [
      ...plan.pods.filter((p) => p.waypoint),
      ...plan.pods.filter((p) => !p.waypoint && !isAdded(p)),
      ...plan.pods.filter((p) => !p.waypoint && isAdded(p)),
    ];
    /** Netns, /etc/netns hosts, CNI ADD, then its command (or waypoint) under the supervisor. */
    const startPod = async (pod: PlannedPod): Promise<void> => {
      const netnsName = netnsNameOf(o.netnsPrefix, pod);
      const etc = path.join('/etc/netns', netnsName);
      record.etcNetns.push(etc);
      await writeRecord(record);
      await mkdir(etc, { recursive: true });
      await writeFile(path.join(etc, 'hosts'), hostsFileFor(plan, pod));
      const netRec = await addPodNetwork(record.network!, {
        namespace: pod.namespace,
        name: pod.name,
        uid: pod.uid,
        netnsName,
        ip: pod.ip,
      });
      record.pods.push(netRec);
      await writeRecord(record);
      const wp = record.waypoints?.find((w) => w.pod === pod.name && w.namespace === pod.namespace);
      if (pod.waypoint && wp) {
        waypointPorts.push(
          await bridgeWaypointPorts({ netnsName, controllerPort: ports.controllerGrpc, hostPort: wp.port, log }),
        );
        const env = {
          ...waypointEnv(pod, {
            rootsFile: path.join(controllerDir, 'root-cert.pem'),
            tokenFile: waypointTokens.get(pod.uid)!,
            controllerIdentity: CONTROLLER_IDENTITY,
            stateDir,
          }),
          ...(pod.gateway ? gatewayEnv(pod) : {}),
        };
        if (pod.gateway) waypointPorts.push(...(await exposeIngressPorts(pod, netnsName, o.portOffset, log)));
        supervisor.add({
          name: `waypoint/${pod.namespace}/${pod.name}`,
          policy: 'Always',
          graceMs: 8000,
          ready: readyLine(60_000),
          start: () =>
            startReporting({
              role: pod.gateway ? 'gateway' : 'waypoint',
              pod: `${pod.namespace}/${pod.name}`,
              cmd: 'ip',
              cwd: plan.dir,
              env,
              args: [
                ...['netns', 'exec', netnsName, process.execPath, builtMain('waypoint')],
                ...['--mode', pod.gateway?.mode ?? 'waypoint'],
              ],
              logFile: path.join(logs, `waypoint.${pod.namespace}.${pod.name}.log`),
              onStdoutLine: (line) => {
                if (line.startsWith('ready')) waypointsReady.add(pod.uid);
              },
            }),
        });
        await writeRecord(record);
      } else if (pod.container) {
        const [cmd, ...args] = pod.container.command;
        supervisor.add({
          name: `pod/${pod.namespace}/${pod.name}`,
          policy: pod.restartPolicy,
          graceMs: 3000,
          start: () =>
            startProcess({
              role: 'pod',
              pod: `${pod.namespace}/${pod.name}`,
              cmd: 'ip',
              cwd: plan.dir,
              env: podEnv(pod, plan),
              args: ['netns', 'exec', netnsName, cmd === 'node' ? process.execPath : cmd!, ...args],
              logFile: path.join(logs, `${pod.namespace}.${pod.name}.log`),
            }),
        });
        await writeRecord(record);
      }
      log.info('pod started', {
        pod: `${pod.namespace}/${pod.name}`,
        ip: pod.ip,
        netns: netnsName,
        enrolled: pod.enrolled,
      });
    };
    for (const pod of order) {
      if (early()) break;
      await startPod(pod);
    }
    /**
     * A waypoint rollout: one replica at a time out of the balancer's rotation, restarted
     * (graceful stop, new process, ready with its config), back in.
     */
    const rolloutWaypoint = async (params: URLSearchParams): Promise<{ replicas: string[]; balanced: boolean }> => {
      const ns = params.get('namespace') ?? 'default';
      const gw = params.get('name') ?? '';
      const pods = plan.pods.filter((p) => p.waypoint?.gateway === gw && p.namespace === ns);
      if (pods.length === 0) throw new AmbitError('AMBIT_E_CONFIG', `no waypoint ${ns}/${gw}`);
      const balancer = balancers.get(`${ns}/${gw}`);
      for (const pod of pods) {
        balancer?.drain(pod.ip);
        waypointsReady.delete(pod.uid);
        await supervisor.restart(`waypoint/${ns}/${pod.name}`);
        const wp = record.waypoints?.find((w) => w.namespace === ns && w.pod === pod.name);
        if (wp)
          await waitFor(
            `${ns}/${pod.name} serving its config`,
            60_000,
            async () => (await waypointDump(wp.port)).version !== undefined || undefined,
          );
        balancer?.enable(pod.ip);
      }
      return { replicas: pods.map((p) => p.name), balanced: balancer !== undefined };
    };
    const agentHas = async (uid: string) =>
      (await agentDump(ports.agentAdmin)).workloads?.some((w) => w.uid === uid) ?? false;
    /**
     * Pod churn: `name` is deleted (command stopped, CNI DEL, gone from the controller's view)
     * and the Pod of `manifest` is created with the IP it had, as a cluster may hand a freed IP
     * to the next pod; the agent learns of the deletion before the new pod exists.
     */
    const replacePod = async (params: URLSearchParams): Promise<{ ip: string; identity: string }> => {
      const ns = params.get('namespace') ?? 'default';
      const name = params.get('name') ?? '';
      const gone = record.pods.find((p) => p.namespace === ns && p.name === name);
      const planned = record.planned.find((p) => p.namespace === ns && p.name === name);
      if (!gone || !planned) throw new AmbitError('AMBIT_E_CONFIG', `no running pod ${ns}/${name}`);
      const doc = (await readManifests(path.resolve(params.get('manifest') ?? ''))).documents[0]?.object;
      if (!doc) throw new AmbitError('AMBIT_E_CONFIG', `${params.get('manifest')}: no Pod`);
      const fresh = planAddedPod(doc, gone.ip, planned.enrolled);
      // As a graceful deletion: out of the mesh's view (endpoints) first, then the process
      // stopped, then its network released.
      const podsFile = path.join(record.configDir, 'zz-local-pods.yaml');
      const others = parseAllDocuments(await readFile(podsFile, 'utf8'))
        .map((d) => d.toJSON() as KubeObject)
        .filter((x) => !(x.metadata.namespace === ns && x.metadata.name === name));
      await writeFile(podsFile, others.map((x) => stringify(x)).join('---\n'));
      await waitFor(`the agent to forget ${ns}/${name}`, 30_000, async () => !(await agentHas(gone.uid)) || undefined);
      // What a preStop hook's pause gives in a cluster: the waypoints learn of it too.
      await sleep(2000);
      await supervisor.remove(`pod/${ns}/${name}`);
      await deletePodNetwork(record.network!, gone);
      record.pods = record.pods.filter((p) => p !== gone);
      record.planned = record.planned.filter((p) => p !== planned);
      await writeRecord(record);
      await writeFile(podsFile, [...others, podObject(fresh, plan.nodeName)].map((x) => stringify(x)).join('---\n'));
      await waitFor(
        `the agent to learn of ${ns}/${fresh.name}`,
        30_000,
        async () => (await agentHas(fresh.uid)) || undefined,
      );
      record.planned.push({
        namespace: fresh.namespace,
        name: fresh.name,
        netnsName: netnsNameOf(o.netnsPrefix, fresh),
        ip: fresh.ip,
        enrolled: fresh.enrolled,
        labels: { ...fresh.labels },
      });
      await startPod(fresh);
      return { ip: fresh.ip, identity: fresh.identity };
    };
    await waitFor(
      'every pod enrolled with its certificate',
      60_000,
      async () => {
        const dump = await agentDump(ports.agentAdmin);
        const pods = new Set(dump.pods?.map((p) => `${p.namespace}/${p.name}`));
        const now = Date.now();
        const certs = new Set(dump.certificates?.filter((c) => Date.parse(c.notAfter) > now).map((c) => c.identity));
        return enrolled.every((p) => pods.has(`${p.namespace}/${p.name}`) && certs.has(p.identity)) || undefined;
      },
      early,
    );
    for (const wp of record.waypoints ?? []) {
      // Serving, with its namespace's L7 config from the controller (a version in its dump);
      // the controller has config only for a waypoint some Service uses.
      const used = plan.snapshot.services.some(
        (s) => s.waypoint?.namespace === wp.namespace && s.waypoint.name === wp.name,
      );
      const isGateway = plan.pods.some((p) => p.gateway && p.namespace === wp.namespace && p.name === wp.pod);
      if (!used && !isGateway)
        log.warn('no Service uses this waypoint', {
          waypoint: `${wp.namespace}/${wp.name}`,
          hint: `label a namespace mesh-waypoint=${wp.name}`,
        });
      await waitFor(
        `the waypoint ${wp.namespace}/${wp.name}${used ? ' and its config' : ''}`,
        60_000,
        async () => {
          if (!waypointsReady.has(`Pod/${wp.namespace}/${wp.pod}`)) return undefined;
          return !used || (await waypointDump(wp.port)).version !== undefined || undefined;
        },
        early,
      );
      log.info('waypoint up', {
        waypoint: `${wp.namespace}/${wp.name}`,
        ip: wp.ip,
        admin: `127.0.0.1:${wp.port}`,
        metrics: `127.0.0.1:${wp.port}/metrics`,
      });
    }
    if (insideUserNamespace())
      relays = await serveRelaySockets(path.join(stateDir, 'relay'), [
        ...nodePorts(ports),
        ...(record.waypoints ?? []).map((w) => w.port),
        ...ingressHostPorts(plan.pods, o.portOffset),
      ]);
    control = await serveControl(path.join(stateDir, CONTROL_SOCKET), supervisor, log, {
      // The enrolled pods (a waypoint's or a balancer's netns was never captured).
      'reassert-capture': () =>
        reassertPodNetworks(
          record.network!,
          record.pods.filter((p) => record.planned.some((x) => x.netnsName === p.netnsName && x.enrolled)),
        ),
      'replace-pod': replacePod,
      'rollout-waypoint': rolloutWaypoint,
    });
    serving = true;
    process.stdout.write('ready\n');
    log.info('local mesh ready', {
      pods: plan.pods.length,
      enrolled: enrolled.length,
      logs,
      admin: `127.0.0.1:${ports.agentAdmin}`,
    });
    if (o.onReady)
      void Promise.resolve(o.onReady({ record, plan, log, stopping, supervisor })).catch((err: unknown) =>
        log.error('live view failed', { err: describeError(err) }),
      );
    const reason = await stopping;
    log.info('stopping', { reason });
    if (reason !== 'SIGINT' && reason !== 'SIGTERM') code = 1;
  } catch (err) {
    log.error('local up failed', { err: describeError(err) });
    code = 1;
  } finally {
    supervisor.stop();
    await control?.close().catch(() => undefined);
    for (const r of relays) r.close();
    // Stop the waypoints first: their controller connection runs through these ports.
    for (const p of record.processes.filter((x) => x.role === 'waypoint' || x.role === 'gateway'))
      await stopProcess(p, 3000).catch(() => undefined);
    for (const b of balancers.values()) await b.close().catch(() => undefined);
    for (const w of waypointPorts)
      await w.close().catch((err: unknown) => log.warn('closing waypoint ports failed', { err: describeError(err) }));
    const problems = await tearDown(record, log);
    await front?.close().catch(() => undefined);
    log.info('torn down', { problems: problems.length });
    if (problems.length > 0) code = 1;
  }
  return code;
}
