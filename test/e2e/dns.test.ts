// The agent's DNS proxy end to end, in real network namespaces networked by the CNI chain:
// a pod's getaddrinfo of a ServiceEntry host without addresses returns its auto-allocated VIP
// (the agent in file mode allocates it like the controller), and an HTTP request to that name
// reaches the in-mesh endpoint over HBONE; a Kubernetes service's short names resolve; a name
// outside the mesh goes to the pod's resolver, a tiny DNS server on the bridge, through the
// agent (the server sees the query from the node, not from the pod). The agent's /metrics
// count the queries with ztunnel's DNS metrics. With the mesh's DNS capture turned off, a pod
// enrolled afterwards has no port-53 redirect and asks its resolver itself, while its TCP is
// still captured. Run under the netns lock.
import { writeFile, rm } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import type { PodNetns } from '../support/cni-chain.js';
import { listenInNetns } from '../../agent/inpod/sockets.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';
import { allocateAutoVips } from '../../core/dns/vip-allocation.js';
import { decodeMessage, encodeMessage, queryMessage, recordAddress, TYPE } from '../../core/dns/wire.js';
import { fetchInPod, inPod, podResolvConf, removeDirs, resolveInPod, TestResolver } from './dns-helpers.js';
import {
  bundleAgent,
  eventually,
  httpGet,
  nodeAgentEnv,
  startAgent,
  tempDir,
  type AgentProcess,
} from '../support/agent-netns.js';
import { bridgeAddress, createPodNetwork, type PodNetwork } from '../support/pod-network.js';
import { filterState, redirectsPort53 } from '../support/cni-plugin-state.js';

const BRIDGE = 'ambt-g3-br0';
const SUBNET = '10.231.53.0/24';
const RESOLVER = bridgeAddress(SUBNET);
const SERVICE_VIP = '10.96.53.10';
const SE_HOST = 'api.mesh-dns.test';
const OUTSIDE_HOST = 'outside.example.test';
const OUTSIDE_IP = '192.0.2.77';
const APP_PORT = 8080;

describeNetns('agent DNS proxy: names from a pod', () => {
  let network: PodNetwork | undefined;
  let dir: string;
  let bundle: string;
  let agent: AgentProcess | undefined;
  let client: PodNetns;
  let server: PodNetns;
  let app: net.Server | undefined;
  const resolver = new TestResolver(RESOLVER, { [OUTSIDE_HOST]: OUTSIDE_IP });
  let etcDirs: string[] = [];
  let configFile: string;
  let version = 0;
  let dnsCapture = true;
  // What the agent's snapshot loader gives the ServiceEntry host (the controller's function).
  const seVip = allocateAutoVips([`shop/${SE_HOST}`], [SERVICE_VIP]).get(`shop/${SE_HOST}`)![0];

  function snapshot(): Record<string, unknown> {
    const serverIps = server ? [server.ip] : [];
    const endpoints = server ? [{ address: server.ip, workloadUid: 'Pod/shop/server' }] : [];
    return {
      version: `v${++version}`,
      ...(dnsCapture ? {} : { mesh: { dnsCapture: false } }),
      namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }],
      workloads: [
        { name: 'client', namespace: 'shop', serviceAccount: 'client', ips: client ? [client.ip] : [], enrolled: true },
        { name: 'server', namespace: 'shop', serviceAccount: 'server', ips: serverIps, enrolled: true },
      ],
      services: [
        {
          name: 'payment',
          namespace: 'shop',
          vips: [SERVICE_VIP],
          ports: [{ port: 80, targetPort: APP_PORT, protocol: 'http' }],
          endpoints,
        },
        {
          // A ServiceEntry (in-mesh endpoints) without addresses: the loader allocates its VIP.
          name: 'api',
          namespace: 'shop',
          hostname: SE_HOST,
          resolution: 'STATIC',
          ports: [{ port: 80, targetPort: APP_PORT, protocol: 'http' }],
          endpoints,
        },
      ],
    };
  }

  async function applyConfig(): Promise<void> {
    const s = snapshot();
    await writeFile(configFile, JSON.stringify(s, null, 2));
    await eventually(
      async () => {
        const dump = JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as AgentConfigDump;
        return dump.version === s.version ? true : undefined;
      },
      `config ${String(s.version)} applied`,
      300,
    );
  }

  beforeAll(async () => {
    dir = await tempDir('dns');
    configFile = path.join(dir, 'mesh.json');
    await writeFile(configFile, JSON.stringify(snapshot()));
    const env = nodeAgentEnv(dir, 'g3-node', {
      AMBIT_CONFIG_FILE: configFile,
      AMBIT_DNS_UPSTREAMS: `${RESOLVER}:53`,
    });
    bundle = await bundleAgent();
    agent = await startAgent(bundle, env);
    const agentSocket = env.AMBIT_AGENT_SOCKET;
    network = await createPodNetwork({ suite: 'g3', bridge: BRIDGE, subnet: SUBNET, agentSocket });
    client = await network.addPod({ namespace: 'shop', name: 'client' });
    server = await network.addPod({ namespace: 'shop', name: 'server' });
    // Each pod's resolv.conf names the test resolver on the bridge (no search list, as a pod
    // outside Kubernetes has), so its queries leave for RESOLVER:53 and the capture takes them.
    etcDirs = await podResolvConf([client, server], RESOLVER);
    await resolver.start();
    app = await listenInNetns(server.netnsPath, APP_PORT);
    app.on('connection', (s: net.Socket) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nfrom-server'));
    });
    await applyConfig();
  }, 180_000);

  afterAll(async () => {
    if (app) await new Promise((r) => app!.close(r));
    await resolver.stop();
    await agent?.kill().catch(() => undefined);
    await network?.destroy();
    await removeDirs(etcDirs);
    if (bundle) await rm(path.dirname(bundle), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('the pod has DNS listeners on its loopback and capture rules for port 53', async () => {
    const udp = await inPod(client, 'ss', ['-Hlun']);
    const tcp = await inPod(client, 'ss', ['-Hltn']);
    expect(udp).toContain('127.0.0.1:15053');
    expect(tcp).toContain('127.0.0.1:15053');
    const nat = await inPod(client, 'iptables-save', ['-t', 'nat']);
    expect(nat).toMatch(/-A AMBIT_DNS .*--dport 53 -j REDIRECT --to-ports 15053/);
  });

  it('a ServiceEntry host without addresses resolves to its auto-allocated VIP and answers by name', async () => {
    expect(seVip).toMatch(/^240\.240\./);
    const dump = JSON.parse(await httpGet(agent!.adminPort, '/config_dump')) as { services?: unknown };
    expect(JSON.stringify(dump.services)).toContain(seVip);
    expect(await resolveInPod(client, SE_HOST)).toEqual([seVip]);
    const body = await fetchInPod(client, `http://${SE_HOST}/`);
    expect(body).toBe('200 from-server');
    // The proxy answered: the pod's resolver never saw the mesh name.
    expect(resolver.seen.filter((q) => q.name === SE_HOST)).toEqual([]);
  });

  it('a Kubernetes service resolves by its short, namespaced and full names', async () => {
    for (const name of ['payment', 'payment.shop', 'payment.shop.svc', 'payment.shop.svc.cluster.local'])
      expect(await resolveInPod(client, name), name).toEqual([SERVICE_VIP]);
  });

  it('a name outside the mesh goes to the pod resolver through the agent', async () => {
    const before = resolver.seen.length;
    expect(await resolveInPod(client, OUTSIDE_HOST)).toEqual([OUTSIDE_IP]);
    const asked = resolver.seen.slice(before).filter((q) => q.name === OUTSIDE_HOST);
    expect(asked.length).toBeGreaterThan(0);
    // Forwarded by the agent from the node, not sent by the pod itself (captured).
    for (const q of asked) expect(q.from).not.toBe(client.ip);
    expect(await resolveInPod(client, 'nothing-here.example.test')).toEqual([]);
  });

  it('a query over TCP is answered too (the proxy listens on TCP 15053)', async () => {
    const query = encodeMessage(queryMessage(0x4242, 'payment.shop', TYPE.A));
    const script =
      `const n=require('node:net');const q=Buffer.from('${query.toString('hex')}','hex');` +
      `const l=Buffer.alloc(2);l.writeUInt16BE(q.length);let b=Buffer.alloc(0);` +
      `const s=n.connect(53,'${RESOLVER}',()=>s.write(Buffer.concat([l,q])));` +
      `s.on('data',(d)=>{b=Buffer.concat([b,d]);if(b.length>=2&&b.length>=2+b.readUInt16BE(0)){` +
      `process.stdout.write(b.subarray(2).toString('hex'));s.destroy();}});` +
      `s.on('error',(e)=>{console.error(e.message);process.exitCode=1;});`;
    const answer = decodeMessage(Buffer.from((await inPod(client, process.execPath, ['-e', script])).trim(), 'hex'));
    expect(answer.id).toBe(0x4242);
    expect(answer.answers.map(recordAddress)).toEqual([SERVICE_VIP]);
  });

  it('garbage sent to the resolver is dropped; the next query is answered', async () => {
    const script =
      `const d=require('node:dgram');const s=d.createSocket('udp4');` +
      `s.send(Buffer.from([1,2,3,0xc0,0x0c,9,9,9,9,9,9,9,9,9,9]),53,'${RESOLVER}',()=>s.close());`;
    await inPod(client, process.execPath, ['-e', script]);
    expect(await resolveInPod(client, 'payment')).toEqual([SERVICE_VIP]);
  });

  it("the agent's /metrics count the pods' queries with ztunnel's DNS metrics", async () => {
    expect(await resolveInPod(client, 'payment')).toEqual([SERVICE_VIP]);
    expect(await resolveInPod(client, OUTSIDE_HOST)).toEqual([OUTSIDE_IP]);
    const text = await httpGet(agent!.metricsPort, '/metrics');
    const value = (name: string, ...labels: string[]): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const fromClient = 'source_canonical_service="client"';
    // Both lookups (one answered here, one forwarded), each an A query over UDP from getaddrinfo.
    expect(
      value('istio_dns_requests_total', fromClient, 'request_query_type="a"', 'request_protocol="udp"'),
    ).toBeGreaterThanOrEqual(2);
    expect(value('istio_dns_upstream_requests_total', fromClient)).toBeGreaterThanOrEqual(1);
    expect(value('istio_dns_upstream_request_duration_seconds_count', fromClient)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^# TYPE istio_dns_upstream_failures_total counter$/m);
  });

  it("with the mesh's DNS capture off, a pod enrolled then has no port-53 redirect: it asks its resolver itself", async () => {
    expect(redirectsPort53(await filterState(client.netnsName))).toEqual({ udp: true, tcp: true });
    dnsCapture = false;
    await applyConfig();
    const plain = await network!.addPod({ namespace: 'shop', name: 'nodns' });
    etcDirs.push(...(await podResolvConf([plain], RESOLVER)));
    expect(redirectsPort53(await filterState(plain.netnsName))).toEqual({ udp: false, tcp: false });
    // Its query reaches the resolver from the pod's own address (not forwarded by the agent)...
    const before = resolver.seen.length;
    expect(await resolveInPod(plain, OUTSIDE_HOST)).toEqual([OUTSIDE_IP]);
    expect(resolver.seen.slice(before).filter((q) => q.name === OUTSIDE_HOST && q.from === plain.ip)).not.toEqual([]);
    // ...a mesh name is not answered by the agent...
    expect(await resolveInPod(plain, 'payment')).toEqual([]);
    // ...and its TCP is still captured: the service VIP answers through the mesh.
    expect(await fetchInPod(plain, `http://${SERVICE_VIP}/`)).toBe('200 from-server');
  });
});
