// The DNS proxy with the real controller (file source) and the agent in its default on-demand
// discovery: the agent holds no Service at first; a pod's getaddrinfo of a ServiceEntry host
// makes the agent look the name up, and the answer is the controller's auto-allocated VIP; a
// request by that name reaches the in-mesh endpoint (a pod selected by workloadSelector); a
// Kubernetes service's short name is looked up in its full form. Run under the netns lock.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listenInNetns } from '../../agent/inpod/sockets.js';
import { allocateAutoVips } from '../../core/dns/vip-allocation.js';
import { describeNetns } from '../support/privileges.js';
import type { PodNetns } from '../support/cni-chain.js';
import { bridgeAddress, createPodNetwork, type PodNetwork } from '../support/pod-network.js';
import { eventually, httpGet, startAgent, type AgentProcess } from '../support/agent-netns.js';
import {
  namespaceObject,
  podObject,
  serviceAccountObject,
  startControllerForNode,
  writeManifests,
  writeText,
  type ControllerProcess,
  type ControllerRun,
} from './controller-agent-helpers.js';
import { fetchInPod, podResolvConf, removeDirs, resolveInPod, TestResolver } from './dns-helpers.js';

const BRIDGE = 'ambt-g3od-br0';
const SUBNET = '10.231.54.0/24';
const RESOLVER = bridgeAddress(SUBNET);
const NS = 'dnsod';
const NODE = 'ambt-g3od-node';
const VIP = '10.96.54.10';
const SE_HOST = 'api.dns-od.test';
const CLIENT = { name: 'client-0', sa: 'client' };
const SERVER = { name: 'server-0', sa: 'server' };
const APP_PORT = 8080;

const manifests = `apiVersion: v1
kind: Service
metadata: { name: payment, namespace: ${NS} }
spec:
  clusterIP: ${VIP}
  selector: { app: ${SERVER.sa} }
  ports: [{ name: http, port: 80, targetPort: ${APP_PORT}, protocol: TCP }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: ${NS} }
spec:
  hosts: [${SE_HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${APP_PORT} }]
  workloadSelector: { labels: { app: ${SERVER.sa} } }
`;

interface Dump {
  workloads: Array<{ ips: string[] }>;
  services: Array<{ hostname: string; vips: string[] }>;
}

describeNetns('agent DNS proxy on demand (real controller + agent)', () => {
  let dir: string;
  let configDir: string;
  let run: ControllerRun | undefined;
  let controller: ControllerProcess | undefined;
  let agentBundle: string | undefined;
  let agent: AgentProcess | undefined;
  let network: PodNetwork | undefined;
  let client: PodNetns;
  let server: PodNetns;
  let app: net.Server | undefined;
  let etcDirs: string[] = [];
  const resolver = new TestResolver(RESOLVER, {});
  // The controller reserves only ServiceEntry addresses (none here) before allocating.
  const seVip = allocateAutoVips([`${NS}/${SE_HOST}`]).get(`${NS}/${SE_HOST}`)![0];

  const dump = async (): Promise<Dump> => JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as Dump;
  const writePods = (ips?: { client: string; server: string }) =>
    writeManifests(configDir, '20-pods.yaml', [
      podObject(NS, CLIENT.name, CLIENT.sa, NODE, ips?.client),
      podObject(NS, SERVER.name, SERVER.sa, NODE, ips?.server),
    ]);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambt-g3od-'));
    configDir = path.join(dir, 'config');
    await mkdir(configDir);
    await writeManifests(configDir, '00-namespace.yaml', [
      namespaceObject(NS, { 'mesh-mode': 'ambient' }),
      ...[CLIENT, SERVER].map((p) => serviceAccountObject(NS, p.sa)),
    ]);
    await writeText(configDir, '10-services.yaml', manifests);
    await writePods();
    const started = await startControllerForNode(dir, configDir, NODE);
    ({ run, controller, agentBundle } = started);
    // No AMBIT_DISCOVERY: on demand is the agent's default.
    agent = await startAgent(agentBundle, {
      ...started.agentEnv,
      AMBIT_DRAIN_MS: '1000',
      AMBIT_DNS_UPSTREAMS: `${RESOLVER}:53`,
    });
    network = await createPodNetwork({
      suite: 'g3od',
      bridge: BRIDGE,
      subnet: SUBNET,
      agentSocket: started.agentEnv.AMBIT_AGENT_SOCKET,
    });
    client = await network.addPod({ namespace: NS, name: CLIENT.name });
    server = await network.addPod({ namespace: NS, name: SERVER.name });
    etcDirs = await podResolvConf([client, server], RESOLVER);
    await resolver.start();
    app = await listenInNetns(server.netnsPath, APP_PORT);
    app.on('connection', (s: net.Socket) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nfrom-server'));
    });
    await writePods({ client: client.ip, server: server.ip });
    const holdsPods = async (): Promise<true | undefined> => {
      const ips = (await dump()).workloads.flatMap((w) => w.ips);
      return ips.includes(client.ip) && ips.includes(server.ip) ? true : undefined;
    };
    await eventually(holdsPods, 'the agent to receive its pods with their IPs', 600);
  }, 240_000);

  afterAll(async () => {
    if (app) await new Promise((r) => app!.close(r));
    await resolver.stop();
    await agent?.kill().catch(() => undefined);
    await controller?.kill().catch(() => undefined);
    await network?.destroy();
    await removeDirs(etcDirs);
    for (const b of [run?.bundle, agentBundle]) if (b) await rm(path.dirname(b), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('a ServiceEntry host the agent never held resolves to the auto VIP and answers by name', async () => {
    expect((await dump()).services.some((s) => s.hostname === SE_HOST)).toBe(false);
    expect(await resolveInPod(client, SE_HOST)).toEqual([seVip]);
    expect((await dump()).services.find((s) => s.hostname === SE_HOST)?.vips).toContain(seVip);
    expect(await fetchInPod(client, `http://${SE_HOST}/`)).toBe('200 from-server');
    expect(resolver.seen.filter((q) => q.name === SE_HOST)).toEqual([]);
  });

  it("a Kubernetes service's short name is looked up in its full form", async () => {
    expect(await resolveInPod(client, 'payment')).toEqual([VIP]);
    expect(await fetchInPod(client, 'http://payment/')).toBe('200 from-server');
  });

  it('an unknown name is looked up, then forwarded to the pod resolver', async () => {
    expect(await resolveInPod(client, 'nowhere.dns-od.test')).toEqual([]);
    expect(resolver.seen.some((q) => q.name === 'nowhere.dns-od.test')).toBe(true);
  });
});
