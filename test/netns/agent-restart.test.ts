// Agent restart with overlap, in real network namespaces: under a steady stream of new
// connections (client pod → Service VIP → HBONE → server pod), agent #2 starts while #1
// runs (its listeners join #1's in every pod netns through SO_REUSEPORT), then #1 gets
// SIGTERM and drains (its accept queues migrate to #2). Not one connection may fail; #2 then
// takes the enrolment socket and enrols a new pod.
import { rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listenInNetns } from '../../agent/inpod/sockets.js';
import type { PodNetns } from '../support/cni-chain.js';
import { describeNetns } from '../support/privileges.js';
import {
  bundleAgent,
  eventually,
  httpGet,
  nodeAgentEnv,
  startAgent,
  tempDir,
  type AgentProcess,
} from '../support/agent-netns.js';
import { podExchange } from '../support/pod-exchange.js';
import { createPodNetwork, type PodNetwork } from '../support/pod-network.js';
import type { AgentConfigDump } from '../../core/admin/dump.js';

const BRIDGE = 'ambt-h4r-br0';
const SUBNET = '10.231.44.0/24';
const VIP = '10.96.44.10';
const APP_PORT = 8080;

/** One short connection from the client pod: send, half-close, expect the echo (undefined) or say what came. */
async function oneConnection(pod: PodNetns, payload: string): Promise<string | undefined> {
  const r = await podExchange(pod.netnsPath, VIP, 80, payload, { timeoutMs: 5000 });
  return r.error ?? (r.echoed === payload ? undefined : `echo ${JSON.stringify(r.echoed)}`);
}

describeNetns('agent restart: listeners handed over in every pod netns', () => {
  let network: PodNetwork | undefined;
  let dir: string;
  let bundle: string;
  let env: Record<string, string>;
  let first: AgentProcess | undefined;
  let second: AgentProcess | undefined;
  let client: PodNetns;
  let server: PodNetns;
  let app: net.Server;

  beforeAll(async () => {
    dir = await tempDir('h4-restart');
    const configFile = path.join(dir, 'mesh.json');
    env = nodeAgentEnv(dir, 'h4-node', {
      AMBIT_CONFIG_FILE: configFile,
      AMBIT_DRAIN_MS: '5000',
      AMBIT_SOCKS5_PORT: '0',
    });
    // Config first (pods are enrolled as their CNI ADD runs).
    const writeConfig = async (): Promise<void> => {
      await writeFile(
        configFile,
        JSON.stringify({
          version: `v${Date.now()}`,
          namespaces: [{ name: 'shop', labels: { 'mesh-mode': 'ambient' } }],
          workloads: [
            {
              name: 'client',
              namespace: 'shop',
              serviceAccount: 'client',
              ips: client ? [client.ip] : [],
              enrolled: true,
            },
            {
              name: 'server',
              namespace: 'shop',
              serviceAccount: 'server',
              ips: server ? [server.ip] : [],
              enrolled: true,
            },
          ],
          services: [
            {
              name: 'server',
              namespace: 'shop',
              vips: [VIP],
              ports: [{ port: 80, targetPort: APP_PORT, protocol: 'tcp' }],
              endpoints: server ? [{ address: server.ip, workloadUid: 'Pod/shop/server' }] : [],
            },
          ],
        }),
      );
    };
    await writeConfig();
    bundle = await bundleAgent();
    first = await startAgent(bundle, env);
    network = await createPodNetwork({
      suite: 'h4r',
      bridge: BRIDGE,
      subnet: SUBNET,
      agentSocket: env.AMBIT_AGENT_SOCKET,
    });
    client = await network.addPod({ namespace: 'shop', name: 'client' });
    server = await network.addPod({ namespace: 'shop', name: 'server' });
    app = await listenInNetns(server.netnsPath, APP_PORT);
    app.on('connection', (s: net.Socket) => {
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
      s.on('error', () => undefined);
    });
    await writeConfig();
    await eventually(
      async () => ((await oneConnection(client, 'warm-up')) === undefined ? true : undefined),
      'mesh serving',
    );
  }, 120_000);

  afterAll(async () => {
    if (app) await new Promise((r) => app.close(r));
    await first?.kill().catch(() => undefined);
    await second?.kill().catch(() => undefined);
    await network?.destroy();
    if (bundle) await rm(path.dirname(bundle), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('no new connection fails while agent #2 starts and agent #1 drains and exits', async () => {
    const failures: string[] = [];
    let total = 0;
    let running = true;
    const worker = async (w: number): Promise<void> => {
      for (let n = 0; running; n++) {
        const err = await oneConnection(client, `w${w}-${n}`);
        total++;
        if (err) failures.push(err);
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));
    await new Promise((r) => setTimeout(r, 500));
    second = await startAgent(bundle, env);
    await eventually(
      () => (second!.logs().some((l) => l.includes('"pods replayed"')) ? true : undefined),
      'agent #2 replayed the pods',
    );
    await new Promise((r) => setTimeout(r, 500));
    const t = Date.now();
    expect(await first!.stop()).toBe(0);
    const drainMs = Date.now() - t;
    first = undefined;
    const before = total;
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await load;
    process.stdout.write(
      `agent restart: ${total} connections, ${failures.length} failed; old agent drained in ${drainMs} ms\n`,
    );
    expect(failures).toEqual([]);
    expect(total - before).toBeGreaterThan(5);
    expect(total).toBeGreaterThan(20);
    // The old agent stopped well within its drain deadline (nothing stayed open).
    expect(drainMs).toBeLessThan(5000);
    const conns = JSON.parse(await httpGet(second.adminPort, '/debug/connections')) as {
      counts: { opened: number; active: number };
    };
    expect(conns.counts.opened).toBeGreaterThan(0);
  }, 60_000);

  it('agent #2 takes over the enrolment socket and enrols a new pod', async () => {
    await eventually(
      () => (second!.logs().some((l) => l.includes('enrolment socket taken over')) ? true : undefined),
      'enrolment taken over',
    );
    await network!.addPod({ namespace: 'shop', name: 'late' });
    const dump = JSON.parse(await httpGet(second!.adminPort, '/config_dump')) as AgentConfigDump;
    expect(dump.pods.map((p) => p.name).sort()).toEqual(['client', 'late', 'server']);
  }, 30_000);

  it('a pod whose port another process holds without SO_REUSEPORT (an older agent) is served once the port is free', async () => {
    await second!.kill();
    second = undefined;
    // What an agent without SO_REUSEPORT leaves: a plain listener on the outbound port.
    const holder = await listenInNetns(client.netnsPath, 15001);
    const third = await startAgent(bundle, env);
    second = third;
    await eventually(
      () => (third.logs().some((l) => l.includes('retrying until they are free')) ? true : undefined),
      'retry logged',
    );
    await new Promise((r) => holder.close(r));
    await eventually(
      () => (third.logs().some((l) => l.includes('pod serving after its ports were freed')) ? true : undefined),
      'pod served',
    );
    expect(await oneConnection(client, 'after the port was freed')).toBeUndefined();
  }, 30_000);
});
