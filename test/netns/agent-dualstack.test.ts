// Dual-stack pods end to end, in real network namespaces networked by the CNI chain with an
// IPv4 and an IPv6 host-local range: the agent listens on both families in every pod netns,
// IPv6 destinations travel through HBONE (authority `[v6]:port`) like IPv4 ones, the app sees
// the client pod's address of the family used, and AuthorizationPolicy applies to both.
import { rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listenInNetns } from '../../agent/inpod/sockets.js';
import type { PodNetns } from '../support/cni-chain.js';
import { describeNetns } from '../support/privileges.js';
import {
  agentSocket,
  bundleAgent,
  eventually,
  httpGet,
  nodeAgentEnv,
  sh,
  startAgent,
  tempDir,
  type AgentProcess,
} from '../support/agent-netns.js';
import { podExchange, type Exchange } from '../support/pod-exchange.js';
import { createPodNetwork, type PodNetwork } from '../support/pod-network.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';

const BRIDGE = 'ambt-h4d-br0';
const SUBNET = '10.231.45.0/24';
const SUBNET6 = 'fd00:a4:45::/64';
const VIP4 = '10.96.45.10';
const VIP6 = 'fd00:a4:96::10';
const APP_PORT = 8080;

/** Connect from the pod (captured like an app), send, half-close, collect the echo. */
const exchange = (pod: PodNetns, ip: string, port: number, payload: string): Promise<Exchange> =>
  podExchange(pod.netnsPath, ip, port, payload, { timeoutMs: 5000 });

describeNetns('agent: dual-stack pods', () => {
  let network: PodNetwork | undefined;
  let dir: string;
  let bundle: string;
  let configFile: string;
  let agent: AgentProcess | undefined;
  let client: PodNetns;
  let server: PodNetns;
  const apps: net.Server[] = [];
  const appPeers: string[] = [];
  let version = 0;

  async function applyConfig(extra: Record<string, unknown> = {}): Promise<void> {
    const v = `v${++version}`;
    const ips = (p: PodNetns | undefined): string[] => (p ? [p.ip, ...(p.ip6 ? [p.ip6] : [])] : []);
    await writeFile(
      configFile,
      JSON.stringify({
        version: v,
        namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }],
        workloads: [
          { name: 'client', namespace: 'shop', serviceAccount: 'client', ips: ips(client), enrolled: true },
          { name: 'server', namespace: 'shop', serviceAccount: 'server', ips: ips(server), enrolled: true },
        ],
        services: [
          {
            name: 'server',
            namespace: 'shop',
            vips: [VIP4, VIP6],
            ports: [{ port: 80, targetPort: APP_PORT, protocol: 'tcp' }],
            endpoints: server ? ips(server).map((address) => ({ address, workloadUid: 'Pod/shop/server' })) : [],
          },
        ],
        ...extra,
      }),
    );
    if (!agent) return;
    await eventually(async () => {
      const dump = JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as AgentConfigDump;
      return dump.version === v ? true : undefined;
    }, `config ${v} applied`);
  }

  async function refusals(): Promise<Record<string, number>> {
    return (JSON.parse(await httpGet(agent!.adminPort, '/debug/connections')) as { refusals: Record<string, number> })
      .refusals;
  }

  /** "connection complete" records the destination agent logged for HBONE (mTLS) connections. */
  function inboundFrom(src: string): number {
    return agent!
      .logs()
      .filter(
        (l) =>
          l.includes('"connection complete"') &&
          l.includes('"direction":"inbound"') &&
          (l.includes(`"addr":"${src}:`) || l.includes(`"addr":"[${src}]:`)),
      ).length;
  }

  beforeAll(async () => {
    dir = await tempDir('h4-dual');
    configFile = path.join(dir, 'mesh.json');
    await applyConfig();
    bundle = await bundleAgent();
    agent = await startAgent(
      bundle,
      nodeAgentEnv(dir, 'h4-dual-node', {
        AMBIT_CONFIG_FILE: configFile,
        AMBIT_DRAIN_MS: '2000',
        AMBIT_SOCKS5_PORT: '0',
      }),
    );
    network = await createPodNetwork({
      suite: 'h4d',
      bridge: BRIDGE,
      subnet: SUBNET,
      subnet6: SUBNET6,
      agentSocket: agentSocket(dir),
    });
    client = await network.addPod({ namespace: 'shop', name: 'client' });
    server = await network.addPod({ namespace: 'shop', name: 'server' });
    for (const host of ['0.0.0.0', '::']) {
      const app = await listenInNetns(server.netnsPath, APP_PORT, host);
      app.on('connection', (s: net.Socket) => {
        appPeers.push(s.remoteAddress ?? '');
        s.on('data', (d) => s.write(d));
        s.on('end', () => s.end());
        s.on('error', () => undefined);
      });
      apps.push(app);
    }
    await applyConfig();
  }, 120_000);

  afterAll(async () => {
    for (const a of apps) await new Promise((r) => a.close(r));
    await agent?.kill().catch(() => undefined);
    await network?.destroy();
    if (bundle) await rm(path.dirname(bundle), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('the pods got an IPv4 and an IPv6 address, and the agent listens on both families', () => {
    expect(client.ip6).toMatch(/^fd00:a4:45:/);
    expect(server.ip6).toMatch(/^fd00:a4:45:/);
    const listening = sh('ip', ['netns', 'exec', server.netnsName, 'ss', '-Hltn']);
    for (const port of [15001, 15006, 15008]) {
      expect(listening).toMatch(new RegExp(`0\\.0\\.0\\.0:${port}\\b`));
      expect(listening).toMatch(new RegExp(`\\[::\\]:${port}\\b`));
    }
  });

  it('IPv4 and IPv6 requests to the server pod both pass over HBONE; the app sees the client address of that family', async () => {
    const peers = appPeers.length;
    expect(await exchange(client, server.ip, APP_PORT, 'over ipv4')).toEqual({ echoed: 'over ipv4' });
    expect(await exchange(client, server.ip6!, APP_PORT, 'over ipv6')).toEqual({ echoed: 'over ipv6' });
    expect(appPeers.slice(peers).map((a) => a.replace(/^::ffff:/, ''))).toEqual([client.ip, client.ip6]);
    // Inbound records exist only for HBONE connections (mutual TLS), one per family.
    await eventually(
      () => (inboundFrom(client.ip) > 0 && inboundFrom(client.ip6!) > 0 ? true : undefined),
      'inbound HBONE records for both families',
    );
    const metrics = await httpGet(agent!.metricsPort, '/metrics');
    expect(metrics).toMatch(
      /istio_tcp_connections_opened_total\{[^}]*reporter="destination"[^}]*connection_security_policy="mutual_tls"[^}]*\} [2-9]/,
    );
  });

  it('both Service VIPs (IPv4 and IPv6) reach the server', async () => {
    expect((await exchange(client, VIP4, 80, 'vip4')).echoed).toBe('vip4');
    expect((await exchange(client, VIP6, 80, 'vip6')).echoed).toBe('vip6');
  });

  it('a DENY policy for the client refuses both families', async () => {
    await applyConfig({
      authorizationPolicies: [
        {
          name: 'deny-client',
          scope: { namespace: 'shop', level: 'namespace' },
          action: 'DENY',
          rules: [{ from: [{ principals: ['cluster.local/ns/shop/sa/client'] }] }],
        },
      ],
    });
    const before = (await refusals())['authz-denied'] ?? 0;
    const peers = appPeers.length;
    expect((await exchange(client, server.ip, APP_PORT, 'denied v4')).echoed).toBe('');
    expect((await exchange(client, server.ip6!, APP_PORT, 'denied v6')).echoed).toBe('');
    expect(appPeers.length).toBe(peers);
    expect((await refusals())['authz-denied']).toBe(before + 2);
    await applyConfig();
    expect((await exchange(client, server.ip6!, APP_PORT, 'allowed again')).echoed).toBe('allowed again');
  });
});
