// The rules ambit-cni writes, exercised with real traffic: pods on a bridge from the CNI
// chain; this test plays the agent's part (listeners on 15001/15006/15008 inside the pods'
// netns through the agent's netns addon, marked and transparent sockets).
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { netnsAddonStatus } from '../../agent/inpod/native.js';
import { AGENT_MARK, createPodSocket, listenInNetns, originalDst, releaseNetns } from '../../agent/inpod/sockets.js';
import { startEnrolmentServer, type EnrolmentServer } from '../../core/enrolment/index.js';
import {
  createCniChain,
  createPodNetns,
  deletePodNetns,
  destroyCniChain,
  type CniChain,
  type PodNetns,
} from '../support/cni-chain.js';
import { describeNetns } from '../support/privileges.js';

interface Seen {
  port: number;
  remote: string;
  originalDst: string | null;
}

describeNetns('capture rules written by ambit-cni, with real traffic', () => {
  let dir: string;
  let server: EnrolmentServer;
  let chain: CniChain;
  let a: PodNetns; // enrolled client
  let b: PodNetns; // enrolled server
  let c: PodNetns; // not enrolled
  const servers: net.Server[] = [];
  const seen: Seen[] = [];

  /** A listener inside a pod's netns that records who arrived and echoes. */
  async function listen(pod: PodNetns, port: number): Promise<void> {
    const s = await listenInNetns(pod.netnsPath, port);
    s.on('connection', (sock) => {
      const od = originalDst(sock);
      seen.push({
        port,
        remote: `${pod.name}<-${sock.remoteAddress}`,
        originalDst: od ? `${od.address}:${od.port}` : null,
      });
      sock.on('data', (d) => sock.write(d));
      sock.on('end', () => sock.end());
      sock.on('error', () => undefined);
    });
    servers.push(s);
  }

  /** Connect from inside `from`'s netns, send a line, return the echo; `seen` tells where it landed. */
  function exchange(
    from: PodNetns,
    ip: string,
    port: number,
    opts: { mark?: number; transparent?: boolean; bindIp?: string } = {},
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = createPodSocket(from.netnsPath, opts);
      let got = '';
      sock.on('data', (d) => {
        got += d.toString();
        if (got.includes('\n')) sock.end();
      });
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
      sock.setTimeout(5000, () => sock.destroy(new Error(`no answer from ${ip}:${port}`)));
      sock.connect(port, ip, () => sock.write(`hello ${port}\n`));
    });
  }

  beforeAll(async () => {
    const status = netnsAddonStatus();
    if (!status.ok) throw new Error(`netns addon unavailable: ${status.reason}`);
    dir = await mkdtemp(join(tmpdir(), 'ambt-h4c-'));
    const sock = join(dir, 'agent.sock');
    server = await startEnrolmentServer(sock, {
      query: async (q) => q.namespace === 'mesh',
      add: async () => undefined,
      delete: async () => undefined,
      list: async () => [],
    });
    chain = await createCniChain({ suite: 'h4c', bridge: 'ambt-h4-br1', subnet: '10.231.41.0/24', agentSocket: sock });
    a = await createPodNetns(chain, { namespace: 'mesh', name: 'a' });
    b = await createPodNetns(chain, { namespace: 'mesh', name: 'b' });
    c = await createPodNetns(chain, { namespace: 'plain', name: 'c' });
    await listen(a, 15001);
    await listen(a, 9000);
    await listen(b, 15006);
    await listen(b, 15008);
    await listen(b, 8080);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const p of [a, b, c]) {
      if (!p) continue;
      releaseNetns(p.netnsPath);
      await deletePodNetns(chain, p).catch(() => undefined);
    }
    if (chain) await destroyCniChain(chain);
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const last = (): Seen | undefined => seen.at(-1);

  it('an app connection leaving an enrolled pod lands on its 15001 with the original destination', async () => {
    expect(await exchange(a, b.ip, 8080)).toBe('hello 8080\n');
    expect(last()).toEqual({ port: 15001, remote: `a<-${a.ip}`, originalDst: `${b.ip}:8080` });
  });

  it('an agent-marked connection is not captured outbound; the enrolled peer redirects it to 15006', async () => {
    await exchange(a, b.ip, 8080, { mark: AGENT_MARK });
    expect(last()).toEqual({ port: 15006, remote: `b<-${a.ip}`, originalDst: `${b.ip}:8080` });
  });

  it('HBONE (15008) reaches the pod unredirected', async () => {
    await exchange(a, b.ip, 15008, { mark: AGENT_MARK });
    expect(last()).toEqual({ port: 15008, remote: `b<-${a.ip}`, originalDst: null });
  });

  it('a pod outside the mesh reaching an enrolled pod goes to 15006; its own traffic is not captured', async () => {
    await exchange(c, b.ip, 8080);
    expect(last()).toEqual({ port: 15006, remote: `b<-${c.ip}`, originalDst: `${b.ip}:8080` });
  });

  it('loopback and to-self traffic is never captured', async () => {
    await exchange(a, '127.0.0.1', 9000);
    expect(last()).toEqual({ port: 9000, remote: 'a<-127.0.0.1', originalDst: null });
    await exchange(a, a.ip, 9000);
    expect(last()).toEqual({ port: 9000, remote: `a<-${a.ip}`, originalDst: null });
  });

  it('the app sees the client pod IP: a transparent marked socket bound to the client IP gets its replies back', async () => {
    // what the agent does in B for an inbound connection from A
    expect(await exchange(b, b.ip, 8080, { mark: AGENT_MARK, transparent: true, bindIp: a.ip })).toBe('hello 8080\n');
    expect(last()).toEqual({ port: 8080, remote: `b<-${a.ip}`, originalDst: null });
  });
});
