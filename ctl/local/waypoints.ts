// Waypoints in `local up`: one ambit-waypoint process per Gateway of class ambit-waypoint,
// in its own netns on the bridge (a pod the mesh does not capture), in controller mode.
// The waypoint reaches the controller at 127.0.0.1:15012 inside its own netns: `local up`
// listens there (a socket made in that netns) and pipes to the controller's 127.0.0.1 port
// on the host, so the controller is never exposed on the bridge. Its admin (15000, 127.0.0.1
// only) and metrics (15020) come back out on ONE host port, 127.0.0.1:15100+i(+offset): a
// small HTTP proxy sends /metrics and /stats/prometheus to the metrics server and every
// other path to the admin server, each over a socket made inside the waypoint's netns.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createPodSocket, listenInNetns, releaseNetns } from '../../agent/inpod/sockets.js';
import type { Logger } from '../../core/log.js';
import { relay } from '../../core/net/relay.js';
import type { PlannedPod } from './plan.js';
import type { WaypointConfigDump } from '../../core/admin/dump.js';

export const WAYPOINT_BASE_PORT = 15100;
/** Inside the waypoint's netns (CONTRACT.md, Ports). */
export const IN_POD = { controller: 15012, admin: 15000, metrics: 15020, ready: 15021, hbone: 15008 } as const;

/** What `local up` records of a running waypoint (`ambitctl waypoint list` shows it). */
export interface WaypointRecord {
  readonly namespace: string;
  /** The Gateway's name. */
  readonly name: string;
  readonly pod: string;
  readonly netnsName: string;
  readonly ip: string;
  readonly identity: string;
  /** 127.0.0.1:<port> on the host: admin endpoints and /metrics. */
  readonly port: number;
}

export const netnsPath = (netnsName: string): string => `/var/run/netns/${netnsName}`;
export const waypointHostPort = (offset: number, index: number): number => WAYPOINT_BASE_PORT + offset + index;

/** A token for the waypoint's identity, added to the controller's token file; returns the token file. */
export async function issueWaypointToken(stateDir: string, nodeTokens: string, pod: PlannedPod): Promise<string> {
  const dir = path.join(stateDir, 'waypoints');
  await mkdir(dir, { recursive: true });
  const token = randomBytes(32).toString('hex');
  await appendFile(nodeTokens, `${token} ${pod.identity}\n`, { mode: 0o600 });
  const file = path.join(dir, `${pod.namespace}.${pod.name}.token`);
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return file;
}

/** The waypoint process's environment (controller mode). */
/** Where `local up` keeps credentials (`<name>/tls.crt`, tls.key, ca.crt) for waypoints and gateways. */
export function localCredentialsDir(stateDir: string): string {
  return path.join(stateDir, 'credentials');
}

export function waypointEnv(
  pod: PlannedPod,
  o: { rootsFile: string; tokenFile: string; controllerIdentity: string; stateDir: string },
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    AMBIT_LOG_LEVEL: process.env.AMBIT_LOG_LEVEL ?? 'info',
    AMBIT_CONTROLLER: `127.0.0.1:${IN_POD.controller}`,
    AMBIT_CONTROLLER_ROOTS: o.rootsFile,
    AMBIT_TOKEN_FILE: o.tokenFile,
    AMBIT_CONTROLLER_IDENTITY: o.controllerIdentity,
    AMBIT_STATE_DIR: path.join(o.stateDir, 'waypoints', `${pod.namespace}.${pod.name}`),
    POD_NAME: pod.name,
    POD_NAMESPACE: pod.namespace,
    SERVICE_ACCOUNT: pod.serviceAccount,
    POD_IP: pod.ip,
    AMBIT_HBONE_HOST: '::',
    AMBIT_HBONE_PORT: String(IN_POD.hbone),
    AMBIT_ADMIN_PORT: String(IN_POD.admin),
    AMBIT_METRICS_PORT: String(IN_POD.metrics),
    AMBIT_READY_PORT: String(IN_POD.ready),
    // DestinationRule credentialName folders (the credentials of hosts outside the mesh, outside-hosts.ts).
    AMBIT_GATEWAY_CREDENTIAL_DIR: localCredentialsDir(o.stateDir),
    // Short-lived certificates for the whole mesh (the chaos suite's rotation event).
    ...(process.env.AMBIT_CERT_TTL_SECONDS ? { AMBIT_CERT_TTL_SECONDS: process.env.AMBIT_CERT_TTL_SECONDS } : {}),
  };
}

export interface WaypointPorts {
  close(): Promise<void>;
}

/** The controller inside the waypoint's netns, and its admin/metrics on the host's 127.0.0.1:`hostPort`. */
export async function bridgeWaypointPorts(o: {
  netnsName: string;
  controllerPort: number;
  hostPort: number;
  log: Logger;
}): Promise<WaypointPorts> {
  const nsPath = netnsPath(o.netnsName);
  // Sockets made inside the netns keep it alive: every one is destroyed on close.
  const open = new Set<net.Socket>();
  const tracked = (s: net.Socket): net.Socket => {
    open.add(s);
    s.once('close', () => open.delete(s));
    return s;
  };
  const toController = await listenInNetns(nsPath, IN_POD.controller, '127.0.0.1');
  toController.on('connection', (c: net.Socket) => {
    void relay(tracked(c), net.connect({ host: '127.0.0.1', port: o.controllerPort, allowHalfOpen: true }));
  });

  const proxy = http.createServer((req, res) => {
    const port = /^\/(metrics|stats\/prometheus)(\?|$)/.test(req.url ?? '') ? IN_POD.metrics : IN_POD.admin;
    const up = http.request(
      {
        method: req.method,
        path: req.url,
        headers: req.headers,
        host: '127.0.0.1',
        port,
        createConnection: () => tracked(createPodSocket(nsPath).connect(port, '127.0.0.1')),
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`waypoint ${o.netnsName}: ${err.message}\n`);
    });
    req.pipe(up);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      proxy.once('error', reject);
      proxy.listen(o.hostPort, '127.0.0.1', resolve);
    });
  } catch (err) {
    toController.close();
    throw err;
  }
  o.log.info('waypoint ports', {
    netns: o.netnsName,
    admin: `127.0.0.1:${o.hostPort}`,
    metrics: `127.0.0.1:${o.hostPort}/metrics`,
  });
  return {
    close: async () => {
      proxy.closeAllConnections();
      for (const s of open) s.destroy();
      await Promise.all([new Promise((r) => proxy.close(r)), new Promise((r) => toController.close(r))]);
      // The addon caches a netns fd per path; a held fd would keep the netns (and its veth) alive.
      try {
        releaseNetns(nsPath);
      } catch {
        /* the addon never loaded */
      }
    },
  };
}

/** The waypoint's /config_dump through its host port. */
export async function waypointDump(hostPort: number): Promise<Partial<WaypointConfigDump>> {
  const res = await fetch(`http://127.0.0.1:${hostPort}/config_dump`, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`config_dump: HTTP ${res.status}`);
  return (await res.json()) as Partial<WaypointConfigDump>;
}
