// Issue 4 end to end: the real controller process (file source) and the real agent process
// (controller mode: discovery and certificates from the controller) with two pods in network
// namespaces networked by the CNI chain a kubelet runs. A policy written into the folder is
// enforced for new connections while an established one keeps flowing; a broken file is
// reported with file and line and the old config keeps serving; traffic survives a stopped
// controller and the agent reconnects to the restarted one; short-lived certificates rotate
// under a stream of connections that all succeed.
import { mkdir, mkdtemp } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import type { PodNetns } from '../support/cni-chain.js';
import { createPodNetwork, type PodNetwork } from '../support/pod-network.js';
import { eventually, httpGet, startAgent, type AgentProcess } from '../support/agent-netns.js';
import {
  denyPolicyObject,
  exchange,
  LongLivedConnection,
  namespaceObject,
  podObject,
  removeManifest,
  serviceAccountObject,
  startController,
  startEchoApp,
  startControllerForNode,
  tearDownSuite,
  waitForWorkloadIps,
  writeManifests,
  writeText,
  type ControllerProcess,
  type ControllerRun,
} from './controller-agent-helpers.js';

const BRIDGE = 'ambt-h14-br0';
const SUBNET = '10.231.14.0/24';
const VIP = '10.96.14.10';
const NS = 'coffee';
const NODE = 'ambt-h14-node';
const CLIENT = { name: 'order-service-0', sa: 'order-service' };
const SERVER = { name: 'payment-service-0', sa: 'payment-service' };
const SVC_PORT = 80;
const APP_PORT = 8080;
const CLIENT_PRINCIPAL = `cluster.local/ns/${NS}/sa/${CLIENT.sa}`;

interface Dump {
  version: string;
  pods: Array<{ name: string; identity: string }>;
  pool: { handshakes: number; handshakeFailures: number; tunnelsFailed: number };
  workloads: Array<{ uid: string; ips: string[]; node?: string }>;
  services: Array<{ name: string; endpoints: Array<{ address: string }> }>;
  policies: { authorization: Array<{ name: string }> };
  certificates: Array<{ identity: string; notAfter: string }>;
}

const serviceFile = (vipLine = `clusterIP: ${VIP}`) =>
  [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${SERVER.sa}`,
    `  namespace: ${NS}`,
    `  labels: { app: ${SERVER.sa} }`,
    'spec:',
    `  ${vipLine}`,
    `  selector: { app: ${SERVER.sa} }`,
    `  ports: [{ name: tcp-echo, port: ${SVC_PORT}, targetPort: ${APP_PORT}, protocol: TCP }]`,
    '',
  ].join('\n');

describeNetns('controller (file source) + agent (controller mode): pods in network namespaces', () => {
  let dir: string;
  let configDir: string;
  let run: ControllerRun;
  let controller: ControllerProcess | undefined;
  let agentBundle: string;
  let agentEnv: Record<string, string>;
  let agent: AgentProcess | undefined;
  let network: PodNetwork | undefined;
  let client: PodNetns;
  let server: PodNetns;
  let app: net.Server | undefined;
  const appPeers: string[] = [];

  const dump = async (): Promise<Dump> => JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as Dump;
  const refused = async (): Promise<number> =>
    (JSON.parse(await httpGet(agent!.adminPort, '/debug/connections')) as { refusals: Record<string, number> })
      .refusals['authz-denied'] ?? 0;
  const probe = (payload: string) => exchange(client.netnsPath, VIP, SVC_PORT, payload);
  const writePods = (ips?: { client: string; server: string }) =>
    writeManifests(configDir, '20-pods.yaml', [
      podObject(NS, CLIENT.name, CLIENT.sa, NODE, ips?.client),
      podObject(NS, SERVER.name, SERVER.sa, NODE, ips?.server),
    ]);
  /** Wait until new connections are refused (true) or echoed (false); returns the ms it took. */
  async function untilNew(refusedWanted: boolean, budgetMs: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; ; i++) {
      const r = await probe(`probe-${i}`);
      if ((r.echoed === '') === refusedWanted) return performance.now() - t0;
      if (performance.now() - t0 > budgetMs)
        throw new Error(
          `new connections still ${refusedWanted ? 'echoed' : 'refused'} after ${budgetMs} ms (last: ${JSON.stringify(r)})`,
        );
      await new Promise((res) => setTimeout(res, 25));
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambt-h14-'));
    configDir = path.join(dir, 'config');
    await mkdir(configDir);
    // What an API server holds before the pods start: namespace, accounts, Service, scheduled Pods.
    await writeManifests(configDir, '00-namespace.yaml', [
      namespaceObject(NS, { 'mesh-mode': 'ambient' }),
      serviceAccountObject(NS, CLIENT.sa),
      serviceAccountObject(NS, SERVER.sa),
    ]);
    await writeText(configDir, '10-service.yaml', serviceFile());
    await writePods();
    const started = await startControllerForNode(dir, configDir, NODE);
    ({ run, controller, agentBundle } = started);
    agentEnv = { ...started.agentEnv, AMBIT_DRAIN_MS: '2000' };
    agent = await startAgent(agentBundle, agentEnv);
    await eventually(
      async () => {
        const uids = new Set((await dump()).workloads.map((w) => w.uid));
        return uids.has(`Pod/${NS}/${CLIENT.name}`) && uids.has(`Pod/${NS}/${SERVER.name}`) ? true : undefined;
      },
      'the agent to receive the scheduled pods',
      300,
    );

    // host-local here returns no routes; the pod network adds the default route a cluster's pods
    // have (Service VIPs use it).
    network = await createPodNetwork({
      suite: 'h14',
      bridge: BRIDGE,
      subnet: SUBNET,
      agentSocket: agentEnv.AMBIT_AGENT_SOCKET,
    });
    client = await network.addPod({ namespace: NS, name: CLIENT.name });
    server = await network.addPod({ namespace: NS, name: SERVER.name });
    app = await startEchoApp(server.netnsPath, APP_PORT, (s) => appPeers.push(s.remoteAddress ?? ''));
    // As the kubelet reports it: the pods' IPs into their status.
    await writePods({ client: client.ip, server: server.ip });
    // On demand, the agent holds its node's workloads; the Service comes with the first connection to it.
    await waitForWorkloadIps(dump, [server.ip, client.ip], 'the agent to receive the pod IPs', 300);
  }, 180_000);

  afterAll(async () => {
    await tearDownSuite({ app, agent, controller, network, bundles: [run?.bundle, agentBundle], dir });
  }, 60_000);

  it('the controller serves the folder: pods enrolled with its certificates, client → Service VIP reaches the server', async () => {
    const d = await dump();
    expect(d.pods.map((p) => [p.name, p.identity]).sort()).toEqual([
      [CLIENT.name, `spiffe://cluster.local/ns/${NS}/sa/${CLIENT.sa}`],
      [SERVER.name, `spiffe://cluster.local/ns/${NS}/sa/${SERVER.sa}`],
    ]);
    expect(d.certificates.map((c) => c.identity).sort()).toEqual(d.pods.map((p) => p.identity).sort());
    expect(d.workloads.every((w) => w.node === NODE)).toBe(true);
    // The certificates came from the controller's CA service.
    const metrics = await httpGet(run.ports.metrics, '/metrics');
    expect(Number(/^ambit_certificates_issued_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/ambit_connected_clients\{role="agent"\} 1/);
    const peers = appPeers.length;
    expect(await probe('hello payment')).toEqual({ echoed: 'hello payment' });
    expect(appPeers.slice(peers)).toEqual([client.ip]);
  });

  it('a DENY policy written into the folder refuses new connections within 1 s; the established one keeps working; removing it lets new ones in', async () => {
    const held = await LongLivedConnection.open(client.netnsPath, VIP, SVC_PORT);
    await held.ping('before-policy');
    const deniedBefore = await refused();
    const writtenAt = performance.now();
    await writeManifests(configDir, '30-deny-order.yaml', [
      denyPolicyObject(NS, 'deny-order-service', CLIENT_PRINCIPAL),
    ]);
    await untilNew(true, 10_000);
    const enforcedMs = performance.now() - writtenAt;
    console.log(
      `[h14] DENY enforced for new connections ${enforcedMs.toFixed(0)} ms after the policy file was written`,
    );
    expect(enforcedMs).toBeLessThanOrEqual(1000);
    expect(await refused()).toBeGreaterThan(deniedBefore);
    expect((await dump()).policies.authorization.map((p) => p.name)).toContain('deny-order-service');
    // Every further new connection is refused; the one established before keeps flowing.
    for (let i = 0; i < 3; i++) {
      expect((await probe(`denied-${i}`)).echoed).toBe('');
      expect(await held.ping('during-deny')).toMatch(/^during-deny#/);
    }
    expect(held.isClosed).toBe(false);

    const removedAt = performance.now();
    await removeManifest(configDir, '30-deny-order.yaml');
    await untilNew(false, 10_000);
    console.log(`[h14] policy removal effective after ${(performance.now() - removedAt).toFixed(0)} ms`);
    expect((await probe('allowed again')).echoed).toBe('allowed again');
    await held.ping('after-policy');
    await held.end();
  });

  it('a broken YAML file is reported with its file and line; the old config keeps serving', async () => {
    const held = await LongLivedConnection.open(client.netnsPath, VIP, SVC_PORT);
    const brokenLine = '  action: DENY: right now';
    const broken = [
      'apiVersion: security.istio.io/v1',
      'kind: AuthorizationPolicy',
      'metadata:',
      '  name: half-written',
      `  namespace: ${NS}`,
      'spec:',
      brokenLine,
      `  rules: [{ from: [{ source: { principals: ["${CLIENT_PRINCIPAL}"] } }] }]`,
      '',
    ].join('\n');
    await writeText(configDir, '40-broken.yaml', broken);
    // An edit that breaks the Service's own file: its last good version keeps serving.
    const serviceBrokenLine = `  clusterIP: ${VIP}: oops`;
    await writeText(configDir, '10-service.yaml', serviceFile(serviceBrokenLine.trim()));
    const reported = (file: string) =>
      controller!.logs().find((l) => l.msg === 'input rejected' && String(l.file).endsWith(file));
    const lineOf = (text: string, line: string) => text.split('\n').indexOf(line) + 1;
    const policyReport = await eventually(() => reported('40-broken.yaml'), 'the broken policy file reported');
    expect(policyReport).toMatchObject({
      level: 'warn',
      file: path.join(configDir, '40-broken.yaml'),
      line: lineOf(broken, brokenLine),
    });
    expect(String(policyReport.err)).toContain(`40-broken.yaml:${lineOf(broken, brokenLine)}: YAML:`);
    const serviceReport = await eventually(() => reported('10-service.yaml'), 'the broken service file reported');
    expect(serviceReport).toMatchObject({
      file: path.join(configDir, '10-service.yaml'),
      line: lineOf(serviceFile(serviceBrokenLine.trim()), serviceBrokenLine),
    });
    // Give a (wrong) push time to arrive, then check what is served.
    await new Promise((r) => setTimeout(r, 1000));
    const d = await dump();
    expect(d.policies.authorization).toEqual([]);
    expect(d.services.find((s) => s.name === SERVER.sa)?.endpoints.map((e) => e.address)).toEqual([server.ip]);
    expect((await probe('still served')).echoed).toBe('still served');
    await held.ping('while-broken');
    // Fixed again.
    await removeManifest(configDir, '40-broken.yaml');
    await writeText(configDir, '10-service.yaml', serviceFile());
    expect((await probe('after fix')).echoed).toBe('after fix');
    await held.end();
  });

  it('a stopped controller leaves traffic flowing; the agent reconnects to the restarted one and enforces its policy', async () => {
    const held = await LongLivedConnection.open(client.netnsPath, VIP, SVC_PORT);
    await held.ping('before-stop');
    expect(await controller!.stop()).toBe(0);
    await eventually(
      () => (agent!.logs().some((l) => l.includes('discovery stream lost')) ? true : undefined),
      'the agent to notice the controller went away',
    );
    // Existing and new connections keep working for a while without a controller.
    for (let i = 0; i < 10; i++) {
      expect(await probe(`no-controller-${i}`)).toEqual({ echoed: `no-controller-${i}` });
      await held.ping('no-controller');
      await new Promise((r) => setTimeout(r, 100));
    }
    controller = await startController(run);
    await eventually(
      () => controller!.logs().find((l) => l.msg === 'client connected' && l.node === NODE),
      'the agent to reconnect',
      300,
    );
    await held.ping('after-restart');
    // A policy change on the restarted controller reaches the agent.
    await writeManifests(configDir, '30-deny-order.yaml', [
      denyPolicyObject(NS, 'deny-order-service', CLIENT_PRINCIPAL),
    ]);
    await untilNew(true, 10_000);
    await held.ping('denied-new-held-ok');
    await removeManifest(configDir, '30-deny-order.yaml');
    await untilNew(false, 10_000);
    await held.end();
  }, 60_000);

  it('short-lived certificates rotate under a stream of connections that all succeed', async () => {
    const TTL = 6;
    // Restart the agent asking the controller for 6 s certificates; the pods are served again from its state.
    await agent!.kill();
    agent = undefined;
    agent = await startAgent(agentBundle, { ...agentEnv, AMBIT_CERT_TTL_SECONDS: String(TTL) });
    const identities = [CLIENT.sa, SERVER.sa].map((sa) => `spiffe://cluster.local/ns/${NS}/sa/${sa}`);
    const expiries = new Map(identities.map((id) => [id, new Set<string>()]));
    const record = async (): Promise<void> => {
      for (const c of (await dump()).certificates) expiries.get(c.identity)?.add(c.notAfter);
    };
    await eventually(
      async () => {
        const d = await dump();
        return d.pods.length === 2 &&
          identities.every((id) =>
            d.certificates.some((c) => c.identity === id && Date.parse(c.notAfter) - Date.now() <= TTL * 1000),
          )
          ? true
          : undefined;
      },
      'the pods served again with short certificates',
      300,
    );
    const held = await LongLivedConnection.open(client.netnsPath, VIP, SVC_PORT);
    const poolBefore = (await dump()).pool;
    const results: Array<{ i: number; ok: boolean; detail: string }> = [];
    const until = Date.now() + 2.5 * TTL * 1000;
    for (let i = 0; Date.now() < until; i++) {
      const r = await probe(`rotation-${i}`);
      results.push({ i, ok: r.echoed === `rotation-${i}`, detail: JSON.stringify(r) });
      await record();
      await new Promise((res) => setTimeout(res, 50));
    }
    const failed = results.filter((r) => !r.ok);
    console.log(
      `[h14] ${results.length} connections across rotations, ${failed.length} failed; certificates seen: ${[...expiries].map(([id, s]) => `${id.split('/').pop()}=${s.size}`).join(', ')}`,
    );
    expect(failed).toEqual([]);
    // Both workloads rotated at least twice during the stream (initial + 2 renewals seen).
    for (const id of identities) expect(expiries.get(id)!.size).toBeGreaterThanOrEqual(3);
    // The rotated certificates were used on the wire: new HBONE connections, none failed.
    const poolAfter = (await dump()).pool;
    expect(poolAfter.handshakes - poolBefore.handshakes).toBeGreaterThanOrEqual(2);
    expect(poolAfter.handshakeFailures).toBe(poolBefore.handshakeFailures);
    expect(poolAfter.tunnelsFailed).toBe(poolBefore.tunnelsFailed);
    // A connection opened before the rotations still flows.
    await held.ping('across-rotation');
    await held.end();
  }, 90_000);
});
