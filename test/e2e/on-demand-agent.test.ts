// The agent binary on demand, end to end: the real controller (file source) and the real agent
// (controller mode, default discovery) with two pods in network namespaces on this node, and a
// pod of the same namespace scheduled on another node. The agent holds its own node's
// workloads and nothing else: not the other node's pod, no Service. The first connection to a
// Service VIP it has never seen succeeds (it waits for the lookup, it does not fail), and the
// lookup brings that Service, not the other node's pod.
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
  exchange,
  namespaceObject,
  podObject,
  serviceAccountObject,
  startEchoApp,
  startControllerForNode,
  tearDownSuite,
  waitForWorkloadIps,
  writeManifests,
  writeText,
  type ControllerProcess,
  type ControllerRun,
} from './controller-agent-helpers.js';

const BRIDGE = 'ambt-s1od-br0';
const SUBNET = '10.231.61.0/24';
const VIP = '10.96.61.10';
const REMOTE_VIP = '10.96.61.20';
const NS = 'ondemand';
const NODE = 'ambt-s1od-node';
const OTHER_NODE = 'ambt-s1od-other';
const CLIENT = { name: 'client-0', sa: 'client' };
const SERVER = { name: 'server-0', sa: 'server' };
/** Scheduled on the other node, with an IP no pod here has. */
const REMOTE = { name: 'remote-0', sa: 'remote', ip: '10.231.62.5' };
const APP_PORT = 8080;

interface Dump {
  pods: Array<{ name: string }>;
  workloads: Array<{ uid: string; ips: string[]; node?: string }>;
  services: Array<{ name: string; vips: string[]; endpoints: Array<{ address: string }> }>;
}

const serviceYaml = (name: string, vip: string, app: string): string =>
  [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${NS}`,
    'spec:',
    `  clusterIP: ${vip}`,
    `  selector: { app: ${app} }`,
    `  ports: [{ name: tcp-echo, port: 80, targetPort: ${APP_PORT}, protocol: TCP }]`,
    '---',
    '',
  ].join('\n');

describeNetns(
  'agent on demand (real controller + agent): node-scoped workloads, first connection to a new destination',
  () => {
    let dir: string;
    let configDir: string;
    let run: ControllerRun;
    let controller: ControllerProcess | undefined;
    let agentBundle: string;
    let agent: AgentProcess | undefined;
    let network: PodNetwork | undefined;
    let client: PodNetns;
    let server: PodNetns;
    let app: net.Server | undefined;

    const dump = async (): Promise<Dump> => JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as Dump;
    const writePods = (ips?: { client: string; server: string }) =>
      writeManifests(configDir, '20-pods.yaml', [
        podObject(NS, CLIENT.name, CLIENT.sa, NODE, ips?.client),
        podObject(NS, SERVER.name, SERVER.sa, NODE, ips?.server),
        podObject(NS, REMOTE.name, REMOTE.sa, OTHER_NODE, REMOTE.ip),
      ]);

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'ambt-s1od-'));
      configDir = path.join(dir, 'config');
      await mkdir(configDir);
      await writeManifests(configDir, '00-namespace.yaml', [
        namespaceObject(NS, { 'mesh-mode': 'ambient' }),
        ...[CLIENT, SERVER, REMOTE].map((p) => serviceAccountObject(NS, p.sa)),
      ]);
      await writeText(
        configDir,
        '10-services.yaml',
        serviceYaml(SERVER.sa, VIP, SERVER.sa) + serviceYaml(REMOTE.sa, REMOTE_VIP, REMOTE.sa),
      );
      await writePods();
      const started = await startControllerForNode(dir, configDir, NODE);
      ({ run, controller, agentBundle } = started);
      // No AMBIT_DISCOVERY: on demand is the agent's default.
      agent = await startAgent(agentBundle, { ...started.agentEnv, AMBIT_DRAIN_MS: '1000' });
      // host-local here returns no routes; the pod network adds the default route a cluster's pods
      // have (Service VIPs use it).
      network = await createPodNetwork({
        suite: 's1od',
        bridge: BRIDGE,
        subnet: SUBNET,
        agentSocket: started.agentEnv.AMBIT_AGENT_SOCKET,
      });
      client = await network.addPod({ namespace: NS, name: CLIENT.name });
      server = await network.addPod({ namespace: NS, name: SERVER.name });
      app = await startEchoApp(server.netnsPath, APP_PORT);
      await writePods({ client: client.ip, server: server.ip });
      await waitForWorkloadIps(dump, [client.ip, server.ip], 'the agent to receive its pods with their IPs', 600);
    }, 240_000);

    afterAll(async () => {
      await tearDownSuite({ app, agent, controller, network, bundles: [run?.bundle, agentBundle], dir });
    }, 60_000);

    it("holds only its own node's workloads: not the other node's pod, and no Service before a connection", async () => {
      // The other node's pod was in the very files the controller read before the agent connected,
      // and the pod IP update after it: whatever the agent holds now, the controller chose to send.
      const d = await dump();
      expect(d.workloads.map((w) => w.uid).sort()).toEqual([`Pod/${NS}/${CLIENT.name}`, `Pod/${NS}/${SERVER.name}`]);
      expect(d.workloads.every((w) => w.node === NODE)).toBe(true);
      expect(d.workloads.some((w) => w.ips.includes(REMOTE.ip))).toBe(false);
      expect(d.services).toEqual([]);
    });

    it('the first connection to a never-seen Service VIP succeeds; the lookup brings that Service only', async () => {
      const t0 = performance.now();
      expect(await exchange(client.netnsPath, VIP, 80, 'first ever', 30_000)).toEqual({ echoed: 'first ever' });
      const firstMs = performance.now() - t0;
      const d = await dump();
      expect(d.services.map((s) => s.name)).toEqual([SERVER.sa]);
      expect(d.services[0]!.endpoints.map((e) => e.address)).toEqual([server.ip]);
      // Still not the other node's pod: nothing asked for it.
      expect(d.workloads.some((w) => w.ips.includes(REMOTE.ip) || w.node === OTHER_NODE)).toBe(false);
      // Held from now on: the next connections go at once.
      const t1 = performance.now();
      for (let i = 0; i < 3; i++)
        expect(await exchange(client.netnsPath, VIP, 80, `again-${i}`)).toEqual({ echoed: `again-${i}` });
      console.log(
        `[s1-on-demand] first connection to a never-seen VIP (lookup included): ${firstMs.toFixed(1)} ms; ` +
          `the next ones: ${((performance.now() - t1) / 3).toFixed(1)} ms each`,
      );
    });

    it('a lookup of the other Service brings its endpoint on the other node, and nothing else', async () => {
      // No pod answers there (the node is not real): the connection fails, but the agent asked.
      await exchange(client.netnsPath, REMOTE_VIP, 80, 'x', 3000);
      const d = await eventually(
        async () => {
          const x = await dump();
          return x.services.some((s) => s.name === REMOTE.sa) ? x : undefined;
        },
        'the remote Service after a lookup',
        300,
      );
      expect(d.services.map((s) => s.name).sort()).toEqual([REMOTE.sa, SERVER.sa]);
      expect(d.workloads.map((w) => w.uid).sort()).toEqual(
        [`Pod/${NS}/${CLIENT.name}`, `Pod/${NS}/${REMOTE.name}`, `Pod/${NS}/${SERVER.name}`].sort(),
      );
    });
  },
);
