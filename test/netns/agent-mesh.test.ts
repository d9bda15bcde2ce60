// The agent end to end in real network namespaces, networked by the CNI chain a kubelet runs
// (bridge + host-local + ambit-cni): HBONE between pods, the app seeing the client pod IP,
// only TLS on the wire, L4 AuthorizationPolicy, STRICT/PERMISSIVE, restart without CNI.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { createPodNetns, type PodNetns } from '../support/cni-chain.js';
import { createPodSocket, listenInNetns, releaseNetns } from '../../agent/inpod/sockets.js';
import { HbonePool } from '../../core/hbone/index.js';
import { CertificateAuthority } from '../../core/identity/ca.js';
import {
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

const BRIDGE = 'ambt-h3-br0';
const SUBNET = '10.231.3.0/24';
const VIP = '10.96.3.10';
const APP_PORT = 8080;
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';

/** The host-side veth of a pod (its port on the bridge). */
function bridgePortOf(pod: PodNetns): string {
  const idx = /@if(\d+)/.exec(sh('ip', ['-n', pod.netnsName, '-o', 'link', 'show', 'eth0']))?.[1];
  const line = sh('ip', ['-o', 'link', 'show', 'master', BRIDGE])
    .split('\n')
    .find((l) => l.startsWith(`${idx}:`));
  const name = line?.split(':')[1]?.trim().split('@')[0];
  if (!name) throw new Error(`no bridge port for ${pod.netnsName}`);
  return name;
}

/** What happens to a client whose chain the agent does not trust: it never gets an echo. */
async function rogueAttempt(
  source: import('../../core/identity/types.js').Credentials,
  target: import('../../core/hbone/index.js').HboneTarget,
): Promise<string> {
  const pool = new HbonePool({ connectTimeoutMs: 3000 });
  try {
    const tunnel = await pool.connect({ source, target });
    return await new Promise<string>((resolve) => {
      let got = '';
      tunnel.on('data', (d: Buffer) => {
        got += d.toString();
      });
      tunnel.on('error', () => resolve('error'));
      tunnel.on('close', () => resolve(got === 'x' ? 'echoed' : 'closed'));
      tunnel.end('x');
    });
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  } finally {
    await pool.close();
  }
}

/** Connect from a pod netns (captured like an app), send `payload`, half-close, read the echo. */
const exchange = (pod: PodNetns, ip: string, port: number, payload: string): Promise<Exchange> =>
  podExchange(pod.netnsPath, ip, port, payload);

describeNetns('agent: pods on a bridge through the CNI chain', () => {
  let network: PodNetwork | undefined;
  let dir: string;
  let bundle: string;
  let agent: AgentProcess | undefined;
  let podA: PodNetns;
  let podB: PodNetns;
  let podC: PodNetns;
  let app: net.Server;
  const appPeers: string[] = [];
  let env: Record<string, string>;
  let configFile: string;
  let version = 0;

  function snapshot(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const ips = (p: PodNetns | undefined): string[] => (p ? [p.ip] : []);
    return {
      version: `v${++version}`,
      namespaces: [
        { name: 'shop', labels: { 'mesh-mode': 'ambient' } },
        { name: 'outside', labels: {} },
      ],
      workloads: [
        { name: 'client', namespace: 'shop', serviceAccount: 'client', ips: ips(podA), enrolled: true },
        {
          name: 'server',
          namespace: 'shop',
          serviceAccount: 'server',
          ips: ips(podB),
          enrolled: true,
          labels: { app: 'server' },
        },
        { name: 'legacy', namespace: 'outside', serviceAccount: 'legacy', ips: ips(podC), enrolled: false },
      ],
      services: [
        {
          name: 'server',
          namespace: 'shop',
          vips: [VIP],
          ports: [{ port: 80, targetPort: APP_PORT, protocol: 'tcp' }],
          endpoints: podB ? [{ address: podB.ip, workloadUid: 'Pod/shop/server' }] : [],
        },
      ],
      ...extra,
    };
  }

  async function applyConfig(extra: Record<string, unknown> = {}): Promise<void> {
    const s = snapshot(extra);
    await writeFile(configFile, JSON.stringify(s, null, 2));
    await eventually(
      async () => {
        const dump = JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as AgentConfigDump;
        return dump.version === s.version ? true : undefined;
      },
      `config ${String(s.version)} applied`,
    );
  }

  async function refusals(): Promise<Record<string, number>> {
    return (JSON.parse(await httpGet(agent!.adminPort, '/debug/connections')) as { refusals: Record<string, number> })
      .refusals;
  }

  beforeAll(async () => {
    dir = await tempDir('mesh');
    configFile = path.join(dir, 'mesh.json');
    await writeFile(configFile, JSON.stringify(snapshot()));
    env = nodeAgentEnv(dir, 'h3-node', { AMBIT_CONFIG_FILE: configFile, AMBIT_DRAIN_MS: '20000' });
    bundle = await bundleAgent();
    agent = await startAgent(bundle, env);
    // host-local here returns no routes; the pod network adds the default route a cluster's pods
    // have (Service VIPs use it).
    network = await createPodNetwork({
      suite: 'h3',
      bridge: BRIDGE,
      subnet: SUBNET,
      agentSocket: env.AMBIT_AGENT_SOCKET,
    });
    podA = await network.addPod({ namespace: 'shop', name: 'client' });
    podB = await network.addPod({ namespace: 'shop', name: 'server' });
    podC = await network.addPod({ namespace: 'outside', name: 'legacy' });
    // The "app" of pod B: an echo server inside B's netns that records who connected.
    app = await listenInNetns(podB.netnsPath, APP_PORT);
    app.on('connection', (s: net.Socket) => {
      appPeers.push(s.remoteAddress ?? '');
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
      s.on('error', () => undefined);
    });
    await applyConfig();
  }, 120_000);

  afterAll(async () => {
    if (app) await new Promise((r) => app.close(r));
    await agent?.kill().catch(() => undefined);
    await network?.destroy();
    if (bundle) await rm(path.dirname(bundle), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('enrolled pods are listed by the agent; the non-enrolled one is not', async () => {
    const dump = JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as AgentConfigDump;
    expect(dump.pods.map((p) => p.name).sort()).toEqual(['client', 'server']);
    expect(dump.pods.find((p) => p.name === 'client')?.identity).toBe(CLIENT_ID);
    // The ADD was acked with the pod's listeners already up inside its netns.
    const listening = sh('ip', ['netns', 'exec', podA.netnsName, 'ss', '-Hltn']);
    for (const port of [15001, 15006, 15008]) expect(listening).toContain(`:${port}`);
    expect(sh('ip', ['netns', 'exec', podC.netnsName, 'ss', '-Hltn'])).not.toContain(':15008');
    // Only enrolled pods got capture rules.
    expect(sh('ip', ['netns', 'exec', podA.netnsName, 'iptables-save', '-t', 'nat'])).toContain('15001');
    expect(sh('ip', ['netns', 'exec', podC.netnsName, 'iptables-save', '-t', 'nat'])).not.toContain('15001');
  });

  it('client → Service VIP: bytes arrive over HBONE, the app sees the client pod IP, the wire shows only TLS on 15008', async () => {
    const pcap = path.join(dir, 'bridge.pcap');
    // Frames forwarded between two bridge ports do not show on the bridge device itself:
    // capture on the bridge port of pod A (its veth on the host side).
    const dump: ChildProcess = spawn(
      'tcpdump',
      ['-i', bridgePortOf(podA), '--immediate-mode', '-U', '-s', '0', '-w', pcap, 'tcp'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    await new Promise<void>((resolve, reject) => {
      let err = '';
      dump.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) resolve();
      });
      dump.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${err}`)));
    });
    const marker = `ambit-h3-plaintext-marker-${Date.now()}`;
    const payload = `${marker} `.repeat(2000);
    const before = appPeers.length;
    const r = await exchange(podA, VIP, 80, payload);
    dump.kill('SIGINT');
    await new Promise((res) => dump.once('exit', res));
    expect(r.error).toBeUndefined();
    expect(r.echoed).toBe(payload);
    expect(appPeers.slice(before)).toEqual([podA.ip]);

    const raw = await readFile(pcap);
    expect(raw.includes(Buffer.from(marker))).toBe(false);
    // A TLS handshake record (content type 22, version 3.x) is on the wire.
    expect(raw.includes(Buffer.from([0x16, 0x03]))).toBe(true);
    const text = sh('tcpdump', ['-nn', '-r', pcap]);
    const between = text.split('\n').filter((l) => l.includes(podA.ip) && l.includes(podB.ip));
    expect(between.length).toBeGreaterThan(0);
    for (const line of between) expect(line).toMatch(/\.15008[ :]/);

    // One "connection complete" line per connection, each side with identities and bytes.
    const complete = agent!
      .logs()
      .filter((l) => l.includes('"connection complete"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const outbound = complete.find(
      (c) =>
        c.direction === 'outbound' && (c.dst as { service?: string }).service === 'shop/server.shop.svc.cluster.local',
    );
    expect(outbound).toMatchObject({
      src: { identity: CLIENT_ID },
      dst: { identity: 'spiffe://cluster.local/ns/shop/sa/server' },
      bytes_received: payload.length,
      bytes_sent: payload.length,
      reason: 'done',
    });
    expect(typeof outbound?.duration_ms).toBe('number');
    expect(complete.find((c) => c.direction === 'inbound')).toMatchObject({
      src: { identity: CLIENT_ID },
      bytes_received: payload.length,
    });
    const metrics = await httpGet(agent!.metricsPort, '/metrics');
    expect(metrics).toMatch(
      /istio_tcp_connections_opened_total\{[^}]*reporter="source"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/client"[^}]*\} 1/,
    );
    expect(metrics).toMatch(
      /istio_tcp_received_bytes_total\{[^}]*reporter="destination"[^}]*connection_security_policy="mutual_tls"[^}]*\} \d+/,
    );
  });

  it('AuthorizationPolicy DENY for the client SA refuses the connection and counts it', async () => {
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
    const r = await exchange(podA, VIP, 80, 'should not arrive');
    expect(r.echoed).toBe('');
    expect(appPeers.length).toBe(peers);
    expect((await refusals())['authz-denied']).toBe(before + 1);
    const metrics = await httpGet(agent!.metricsPort, '/metrics');
    expect(metrics).toMatch(/ambit_connections_refused_total\{[^}]*reason="authz-denied"[^}]*\} [1-9]/);
  });

  it('AuthorizationPolicy ALLOW for another principal refuses the client', async () => {
    await applyConfig({
      authorizationPolicies: [
        {
          name: 'allow-other',
          scope: { namespace: 'shop', level: 'namespace' },
          action: 'ALLOW',
          rules: [{ from: [{ principals: ['cluster.local/ns/shop/sa/other'] }] }],
        },
      ],
    });
    const before = (await refusals())['authz-denied'] ?? 0;
    const r = await exchange(podA, VIP, 80, 'should not arrive either');
    expect(r.echoed).toBe('');
    expect((await refusals())['authz-denied']).toBe(before + 1);
    // Allowing the client's principal lets it through again.
    await applyConfig({
      authorizationPolicies: [
        {
          name: 'allow-client',
          scope: { namespace: 'shop', level: 'namespace' },
          action: 'ALLOW',
          rules: [{ from: [{ principals: ['cluster.local/ns/shop/sa/client'] }] }],
        },
      ],
    });
    expect((await exchange(podA, VIP, 80, 'allowed')).echoed).toBe('allowed');
  });

  it('STRICT refuses a non-enrolled pod reaching the server directly; PERMISSIVE lets it in', async () => {
    await applyConfig({
      peerAuthentications: [{ name: 'default', scope: { namespace: 'shop', level: 'namespace' }, mode: 'STRICT' }],
    });
    const before = (await refusals())['strict-mtls'] ?? 0;
    const strict = await exchange(podC, podB.ip, APP_PORT, 'plaintext');
    expect(strict.echoed).toBe('');
    expect((await refusals())['strict-mtls']).toBe(before + 1);

    await applyConfig({
      peerAuthentications: [{ name: 'default', scope: { namespace: 'shop', level: 'namespace' }, mode: 'PERMISSIVE' }],
    });
    const peers = appPeers.length;
    const permissive = await exchange(podC, podB.ip, APP_PORT, 'plaintext ok');
    expect(permissive.echoed).toBe('plaintext ok');
    expect(appPeers.slice(peers)).toEqual([podC.ip]);
  });

  it('a destination outside the mesh is plain TCP passthrough; REGISTRY_ONLY refuses unknown ones', async () => {
    const legacy = await listenInNetns(podC.netnsPath, 9090);
    const legacyPeers: string[] = [];
    legacy.on('connection', (s: net.Socket) => {
      legacyPeers.push(s.remoteAddress ?? '');
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
    });
    try {
      await applyConfig();
      const r = await exchange(podA, podC.ip, 9090, 'to legacy');
      expect(r.echoed).toBe('to legacy');
      expect(legacyPeers).toEqual([podA.ip]);
      // An address nobody registered: refused under REGISTRY_ONLY, without a packet leaving.
      await applyConfig({ mesh: { outboundTrafficPolicy: 'REGISTRY_ONLY' } });
      const before = (await refusals())['registry-only'] ?? 0;
      expect((await exchange(podA, '10.231.3.250', 9090, 'unknown')).echoed).toBe('');
      expect((await refusals())['registry-only']).toBe(before + 1);
      // A known (non-enrolled) workload is still reachable.
      expect((await exchange(podA, podC.ip, 9090, 'still ok')).echoed).toBe('still ok');
    } finally {
      await new Promise((r) => legacy.close(r));
    }
  });

  it('CNI DEL removes a pod: its listeners close and the agent forgets it', async () => {
    const podD = await network!.addPod({ namespace: 'shop', name: 'temp' });
    expect(sh('ip', ['netns', 'exec', podD.netnsName, 'ss', '-Hltn'])).toContain(':15008');
    const names = async (): Promise<string[]> =>
      (JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as AgentConfigDump).pods.map((p) => p.name).sort();
    expect(await names()).toEqual(['client', 'server', 'temp']);
    await network!.removePod(podD);
    expect(await names()).toEqual(['client', 'server']);
    const persisted = JSON.parse(await readFile(path.join(env.AMBIT_STATE_DIR!, 'pods.json'), 'utf8')) as {
      pods: Array<{ name: string }>;
    };
    expect(persisted.pods.map((p) => p.name).sort()).toEqual(['client', 'server']);
  });

  it("inbound HBONE checks the client's chain and the target before connecting to the app", async () => {
    await applyConfig();
    // The agent's file-mode CA is persisted in its state dir: sign a client the way a peer agent would be.
    const ca = await CertificateAuthority.loadOrCreate(path.join(env.AMBIT_STATE_DIR!, 'ca'));
    const good = await ca.issue('spiffe://cluster.local/ns/shop/sa/tester');
    const rogue = await (await CertificateAuthority.create()).issue('spiffe://cluster.local/ns/shop/sa/rogue');
    const pool = new HbonePool({ connectTimeoutMs: 5000 });
    const target = (authority: string) => ({
      address: podB.ip,
      port: 15008,
      authority,
      expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/server'],
    });
    try {
      const tunnel = await pool.connect({ source: good, target: target(`${podB.ip}:${APP_PORT}`) });
      const echoed = await new Promise<string>((resolve, reject) => {
        let got = '';
        tunnel.on('data', (d: Buffer) => {
          got += d.toString();
        });
        tunnel.on('end', () => resolve(got));
        tunnel.on('error', reject);
        tunnel.end('over hbone from the node');
      });
      expect(echoed).toBe('over hbone from the node');
      // Not an address of this pod, or the agent's own port: 400.
      await expect(pool.connect({ source: good, target: target(`${podA.ip}:${APP_PORT}`) })).rejects.toMatchObject({
        code: 'AMBIT_E_HBONE_STATUS',
      });
      await expect(pool.connect({ source: good, target: target(`${podB.ip}:15001`) })).rejects.toMatchObject({
        code: 'AMBIT_E_HBONE_STATUS',
      });
      // A chain from another CA never reaches the handler (own pool: nothing shared with the good client).
      const peers = appPeers.length;
      const rogueClient = await rogueAttempt(rogue, target(`${podB.ip}:${APP_PORT}`));
      expect(rogueClient).not.toBe('echoed');
      expect(appPeers.length).toBe(peers);
    } finally {
      await pool.close();
    }
  });

  it('a killed and restarted agent serves the existing pods again without the CNI plugin', async () => {
    // A pod whose netns disappears while the agent is down is forgotten on restart.
    const podE = await createPodNetns(network!.chain, { namespace: 'shop', name: 'gone' });
    await agent!.kill();
    agent = undefined;
    releaseNetns(podE.netnsPath);
    sh('ip', ['netns', 'del', podE.netnsName]);
    // Nobody listens in the pods now: the captured connection fails.
    expect((await exchange(podA, VIP, 80, 'agent down')).echoed).toBe('');
    agent = await startAgent(bundle, env);
    await applyConfig();
    const r = await exchange(podA, VIP, 80, 'after restart');
    expect(r.echoed).toBe('after restart');
    const dump = JSON.parse(await httpGet(agent.adminPort, '/config_dump')) as AgentConfigDump;
    expect(dump.pods.map((p) => p.name).sort()).toEqual(['client', 'server']);
    const persisted = JSON.parse(await readFile(path.join(env.AMBIT_STATE_DIR!, 'pods.json'), 'utf8')) as {
      pods: Array<{ name: string }>;
    };
    expect(persisted.pods.map((p) => p.name).sort()).toEqual(['client', 'server']);
  });

  it('SIGTERM drains: an open connection keeps working until it ends, then the agent exits', async () => {
    const sock = createPodSocket(podA.netnsPath);
    sock.setEncoding('utf8');
    let echoed = '';
    sock.on('data', (d: string) => {
      echoed += d;
    });
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.connect(80, VIP);
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write('one ');
    await eventually(() => (echoed === 'one ' ? true : undefined), 'first echo');
    const exited = agent!.stop();
    await eventually(() => (agent!.logs().some((l) => l.includes('"draining"')) ? true : undefined), 'agent draining');
    sock.write('two');
    await eventually(() => (echoed === 'one two' ? true : undefined), 'echo during drain');
    sock.end();
    await closed;
    expect(await exited).toBe(0);
    agent = undefined;
  });
});
