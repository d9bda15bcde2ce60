// Dual-stack pods through a waypoint, in real network namespaces networked by the CNI chain with
// an IPv4 and an IPv6 host-local range: a client pod calls a service that has a waypoint at
// its IPv4 and its IPv6 VIP; the agent carries both to the waypoint over HBONE (authority
// `VIP4:80` or `[VIP6]:80`), the waypoint (listening on ::) picks the service by that VIP,
// applies L7 policy and dials the server's IPv6 endpoint over HBONE. A path denied by an
// AuthorizationPolicy answers 403 over both families; another path passes over both.
import http from 'node:http';
import { rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPodSocket, listenInNetns } from '../../agent/inpod/sockets.js';
import { domainsFor } from '../../controller/translate/l7-build.js';
import { clusterName, type WaypointConfig } from '../../core/model/l7.js';
import { DEFAULT_MESH_CONFIG, type Service } from '../../core/model/types.js';
import type { PodNetns } from '../support/cni-chain.js';
import { describeNetns } from '../support/privileges.js';
import {
  agentSocket,
  bundleAgent,
  eventually,
  httpGet,
  sh,
  spawn,
  nodeAgentEnv,
  startAgent,
  tempDir,
  waitForLine,
  type AgentProcess,
} from '../support/agent-netns.js';
import { bundleMain } from '../support/bundle.js';
import { createPodNetwork, type PodNetwork } from '../support/pod-network.js';
import { REPO_ROOT as REPO } from '../support/repo.js';

const BRIDGE = 'ambt-h13w-br0';
const SUBNET = '10.231.113.0/24';
const SUBNET6 = 'fd00:a13:113::/64';
const VIP4 = '10.96.113.10';
const VIP6 = 'fd00:a13:96::10';
const APP_PORT = 8080;
const HOST = 'server.shop.svc.cluster.local';
const WAYPOINT_ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';

/** One HTTP/1.1 request from the client pod (captured like an app) to `ip:80`. */
function podGet(pod: PodNetns, ip: string, pathName: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: 'GET',
        path: pathName,
        headers: { host: HOST, connection: 'close' },
        createConnection: () => {
          const sock = createPodSocket(pod.netnsPath, { family: ip.includes(':') ? 6 : 4 });
          sock.connect(80, ip);
          return sock;
        },
        timeout: 8000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${pathName} via ${ip} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describeNetns('waypoint: dual-stack pods', () => {
  let network: PodNetwork | undefined;
  let dir: string;
  let agentBundle: string;
  let waypointBundle: string;
  let agent: AgentProcess | undefined;
  let waypoint: ReturnType<typeof spawn> | undefined;
  const waypointLines: string[] = [];
  let client: PodNetns;
  let server: PodNetns;
  let wp: PodNetns;
  const apps: net.Server[] = [];
  const appSeen: Array<{ url: string; peer: string }> = [];

  const ips = (p: PodNetns): string[] => [p.ip, ...(p.ip6 ? [p.ip6] : [])];
  const service = (): Record<string, unknown> => ({
    name: 'server',
    namespace: 'shop',
    vips: [VIP4, VIP6],
    ports: [{ port: 80, targetPort: APP_PORT, protocol: 'http' }],
    endpoints: server ? ips(server).map((address) => ({ address, workloadUid: 'Pod/shop/server' })) : [],
    ...(wp ? { waypoint: { name: 'waypoint', namespace: 'shop', address: wp.ip6, identity: WAYPOINT_ID } } : {}),
  });

  async function applyMesh(configFile: string, version: string): Promise<void> {
    await writeFile(
      configFile,
      JSON.stringify({
        version,
        namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }],
        workloads: [
          {
            name: 'client',
            namespace: 'shop',
            serviceAccount: 'client',
            ips: client ? ips(client) : [],
            enrolled: true,
          },
          {
            name: 'server',
            namespace: 'shop',
            serviceAccount: 'server',
            ips: server ? ips(server) : [],
            enrolled: true,
          },
          // The waypoint's own pod is not captured (its traffic is already HBONE).
          { name: 'waypoint', namespace: 'shop', serviceAccount: 'waypoint', ips: wp ? ips(wp) : [], enrolled: false },
        ],
        services: [service()],
      }),
    );
    if (!agent) return;
    await eventually(async () => {
      const dump = JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as { version: string };
      return dump.version === version ? true : undefined;
    }, `config ${version} applied`);
  }

  function waypointConfig(): WaypointConfig {
    const cluster = clusterName(HOST, 80, undefined);
    const svc = { hostname: HOST, namespace: 'shop', vips: [VIP4, VIP6] } as unknown as Service;
    return {
      namespace: 'shop',
      waypoint: 'waypoint',
      version: 'wp-v1',
      mesh: DEFAULT_MESH_CONFIG,
      virtualHosts: [
        {
          name: `${HOST}:80`,
          host: HOST,
          port: 80,
          protocol: 'http',
          serviceKey: `shop/${HOST}`,
          domains: domainsFor(svc, 80, 'cluster.local'),
          vips: [VIP4, VIP6],
          routes: [{ source: 'default', matches: [], destinations: [{ host: HOST, port: 80, weight: 100, cluster }] }],
        },
      ],
      clusters: [
        {
          name: cluster,
          host: HOST,
          port: 80,
          protocol: 'http',
          serviceKey: `shop/${HOST}`,
          trafficPolicy: {},
          // The server's IPv6 address only: the waypoint's upstream tunnel is `[v6]:8080`.
          endpoints: [
            {
              address: server.ip6!,
              port: APP_PORT,
              identity: 'spiffe://cluster.local/ns/shop/sa/server',
              labels: {},
              hbone: true,
            },
          ],
        },
      ],
      authorizationPolicies: [
        {
          key: 'shop/deny-admin',
          name: 'deny-admin',
          scope: { namespace: 'shop', level: 'namespace' },
          action: 'DENY',
          rules: [{ to: [{ paths: ['/admin*'] }] }],
        },
      ],
      requestAuthentications: [],
      peerAuthentications: [],
    } as WaypointConfig;
  }

  /** The waypoint's access log records (JSON lines with msg "request"). */
  function accessLog(): Array<{ path: string; status: number; source?: string; upstream?: string }> {
    return waypointLines.flatMap((l) => {
      try {
        const o = JSON.parse(l) as { msg?: string; path: string; status: number; source?: string; upstream?: string };
        return o.msg === 'request' ? [o] : [];
      } catch {
        return [];
      }
    });
  }

  beforeAll(async () => {
    dir = await tempDir('h13-wp-dual');
    const configFile = path.join(dir, 'mesh.json');
    await applyMesh(configFile, 'v0');
    // The node's setup reads like agent-dualstack's: the same support steps (agent, pod network)
    // with this suite's names and addresses.
    [agentBundle, waypointBundle] = await Promise.all([bundleAgent(), bundleMain('waypoint/main.ts', 'waypoint')]);
    agent = await startAgent(
      agentBundle,
      nodeAgentEnv(dir, 'h13-wp-node', {
        AMBIT_CONFIG_FILE: configFile,
        AMBIT_DRAIN_MS: '2000',
        AMBIT_SOCKS5_PORT: '0',
      }),
    );
    network = await createPodNetwork({
      suite: 'h13w',
      bridge: BRIDGE,
      subnet: SUBNET,
      subnet6: SUBNET6,
      agentSocket: agentSocket(dir),
    });
    client = await network.addPod({ namespace: 'shop', name: 'client' });
    server = await network.addPod({ namespace: 'shop', name: 'server' });
    wp = await network.addPod({ namespace: 'shop', name: 'waypoint' });
    const appHandler = http.createServer((req, res) => {
      appSeen.push({ url: req.url ?? '', peer: req.socket.remoteAddress ?? '' });
      res.end(`served ${req.url}`);
    });
    for (const host of ['0.0.0.0', '::']) {
      const app = await listenInNetns(server.netnsPath, APP_PORT, host);
      app.on('connection', (s: net.Socket) => appHandler.emit('connection', s));
      apps.push(app);
    }
    await applyMesh(configFile, 'v1');

    // The waypoint runs in its pod's netns with the file-mode CA the agent made (same root).
    const wpConfig = path.join(dir, 'waypoint.json');
    await writeFile(wpConfig, JSON.stringify(waypointConfig()));
    waypoint = spawn('ip', ['netns', 'exec', wp.netnsName, process.execPath, waypointBundle], {
      cwd: REPO,
      env: {
        ...process.env,
        AMBIT_WAYPOINT_CONFIG_FILE: wpConfig,
        AMBIT_STATE_DIR: path.join(dir, 'state'),
        POD_NAMESPACE: 'shop',
        POD_NAME: 'waypoint',
        SERVICE_ACCOUNT: 'waypoint',
        POD_IP: wp.ip,
        AMBIT_ACCESS_LOG: 'true',
        AMBIT_ADMIN_PORT: '0',
        AMBIT_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [waypoint.stdout, waypoint.stderr]) {
      let partial = '';
      stream?.on('data', (d: Buffer) => {
        const parts = (partial + d.toString('utf8')).split('\n');
        partial = parts.pop() ?? '';
        waypointLines.push(...parts);
      });
    }
    try {
      await waitForLine(waypoint, /^ready /);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nwaypoint log:\n${waypointLines.slice(-20).join('\n')}`, {
        cause: err,
      });
    }
  }, 180_000);

  afterAll(async () => {
    if (waypoint && waypoint.exitCode === null) {
      const exited = new Promise((r) => waypoint!.once('exit', r));
      waypoint.kill('SIGKILL');
      await exited;
    }
    for (const a of apps) await new Promise((r) => a.close(r));
    await agent?.kill().catch(() => undefined);
    await network?.destroy();
    for (const b of [agentBundle, waypointBundle]) if (b) await rm(path.dirname(b), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('the waypoint pod has both families and its HBONE listener takes both (one socket on ::)', () => {
    expect(wp.ip6).toMatch(/^fd00:a13:113:/);
    const listening = sh('ip', ['netns', 'exec', wp.netnsName, 'ss', '-Hltn']);
    expect(listening).toMatch(/\[::\]:15008\b|\*:15008\b/);
  });

  it('requests to the IPv4 and the IPv6 VIP both pass through the waypoint over mTLS to the IPv6 endpoint', async () => {
    const seen = appSeen.length;
    expect(await podGet(client, VIP4, '/menu?family=4')).toEqual({ status: 200, body: 'served /menu?family=4' });
    expect(await podGet(client, VIP6, '/menu?family=6')).toEqual({ status: 200, body: 'served /menu?family=6' });
    // The app was reached from the waypoint's IPv6 address (the waypoint dialled [server v6]:8080).
    expect(appSeen.slice(seen)).toEqual([
      { url: '/menu?family=4', peer: wp.ip6 },
      { url: '/menu?family=6', peer: wp.ip6 },
    ]);
    // The waypoint saw each, from the client's certificate identity (known only over mutual TLS).
    await eventually(() => {
      const log = accessLog().filter((r) => r.path.startsWith('/menu?family='));
      return log.length >= 2 ? log : undefined;
    }, 'access log lines for both requests');
    for (const family of ['4', '6']) {
      const r = accessLog().find((l) => l.path === `/menu?family=${family}`);
      expect(r, `family ${family}`).toMatchObject({ status: 200, source: CLIENT_ID });
      expect(r?.upstream).toContain(server.ip6);
    }
    const metrics = await (await fetch(`http://${wp.ip}:15020/metrics`)).text();
    const served = metrics
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('istio_requests_total{') &&
          l.includes('response_code="200"') &&
          l.includes('connection_security_policy="mutual_tls"'),
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    expect(
      served,
      metrics
        .split('\n')
        .filter((l) => l.startsWith('istio_requests_total'))
        .join('\n'),
    ).toBeGreaterThanOrEqual(2);
  });

  it('an L7 DENY on /admin answers 403 over both families; the other path stays allowed over both', async () => {
    const seen = appSeen.length;
    expect((await podGet(client, VIP4, '/admin/users')).status).toBe(403);
    expect((await podGet(client, VIP6, '/admin/users')).status).toBe(403);
    expect(appSeen.length).toBe(seen);
    expect((await podGet(client, VIP4, '/menu')).status).toBe(200);
    expect((await podGet(client, VIP6, '/menu')).status).toBe(200);
    await eventually(
      () => (accessLog().filter((r) => r.path === '/admin/users' && r.status === 403).length === 2 ? true : undefined),
      'two 403s in the access log',
    );
  });
});
