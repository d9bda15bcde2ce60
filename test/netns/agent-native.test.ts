// The netns addon and its TypeScript wrappers against real namespaces and iptables:
// SO_ORIGINAL_DST after a REDIRECT, SO_MARK escaping capture, IP_TRANSPARENT source IPs.
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNetns } from '../support/privileges.js';
import { netnsAddon, netnsAddonStatus } from '../../agent/inpod/native.js';
import { AGENT_MARK, createPodSocket, listenInNetns, originalDst, releaseNetns } from '../../agent/inpod/sockets.js';
import { addNetns, delNetns, inNs, ipt, netnsPath, readAll, sh, vethPair } from '../support/agent-netns.js';

const A = 'ambt-h3-na';
const B = 'ambt-h3-nb';
const C = 'ambt-h3-nc';

function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
}

describeNetns('agent native addon in network namespaces', () => {
  let ipA = '';
  let ipB = '';
  const servers: net.Server[] = [];

  beforeAll(() => {
    const status = netnsAddonStatus();
    if (!status.ok) throw new Error(`netns addon unavailable: ${status.reason}`);
    addNetns(A);
    addNetns(B);
    ({ ipA, ipB } = vethPair(A, B, '10.233.3', 'h3nat'));
    // A: capture outbound TCP that the agent did not mark.
    ipt(A, `-t nat -A OUTPUT -p tcp ! -o lo -m mark ! --mark ${AGENT_MARK}/0xfff -j REDIRECT --to-ports 15001`);
    // B: return traffic of agent sockets bound to a foreign (client) address goes back to the agent.
    ipt(B, `-t mangle -A PREROUTING -m mark --mark ${AGENT_MARK}/0xfff -j CONNMARK --set-xmark 0x111/0xfff`);
    ipt(
      B,
      '-t mangle -A OUTPUT -p tcp -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff',
    );
    inNs(B, 'ip', ['rule', 'add', 'fwmark', '0x111/0xfff', 'lookup', '100']);
    inNs(B, 'ip', ['route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100']);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const ns of [A, B, C]) {
      try {
        releaseNetns(netnsPath(ns));
      } catch {
        /* addon missing */
      }
      delNetns(ns);
    }
  });

  async function echoServer(ns: string, port: number, host?: string): Promise<{ server: net.Server; peers: string[] }> {
    const peers: string[] = [];
    const server = await listenInNetns(netnsPath(ns), port, host);
    server.on('connection', (s) => {
      peers.push(`${s.remoteAddress}:${s.remotePort}|${JSON.stringify(originalDst(s) ?? null)}`);
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
    });
    servers.push(server);
    return { server, peers };
  }

  it('reads SO_ORIGINAL_DST of a REDIRECTed connection, and undefined when not redirected', async () => {
    const capture = await listenInNetns(netnsPath(A), 15001);
    servers.push(capture);
    const app = await echoServer(B, 8080);
    const seen = new Promise<ReturnType<typeof originalDst>>((resolve) => {
      capture.once('connection', (s) => {
        resolve(originalDst(s));
        s.destroy();
      });
    });
    const client = createPodSocket(netnsPath(A));
    client.on('error', () => {
      /* destroyed by the capture side */
    });
    client.connect(8080, ipB);
    expect(await seen).toEqual({ address: ipB, port: 8080, family: 4 });
    expect(app.peers).toHaveLength(0);

    // A marked socket goes straight to B; there the accepted socket was not redirected.
    const marked = createPodSocket(netnsPath(A), { mark: AGENT_MARK });
    marked.connect(8080, ipB);
    await connected(marked);
    marked.end('ping');
    expect(await readAll(marked)).toBe('ping');
    expect(app.peers).toHaveLength(1);
    expect(app.peers[0]).toMatch(new RegExp(`^${ipA.replace(/\./g, '\\.')}:\\d+\\|null$`));
  });

  it('does not capture sockets carrying the agent mark (no loop through 15001)', async () => {
    const capture = servers[0]!;
    let captured = 0;
    const onConn = (): void => {
      captured += 1;
    };
    capture.on('connection', onConn);
    const payload = 'x'.repeat(100_000);
    const sock = createPodSocket(netnsPath(A), { mark: AGENT_MARK });
    sock.connect(8080, ipB);
    await connected(sock);
    sock.end(payload);
    expect(await readAll(sock)).toBe(payload);
    capture.off('connection', onConn);
    expect(captured).toBe(0);
  });

  it('connects with IP_TRANSPARENT from the client pod IP: the app sees that IP', async () => {
    const app = await echoServer(B, 9090, ipB);
    const sock = createPodSocket(netnsPath(B), { mark: AGENT_MARK, transparent: true, bindIp: ipA });
    sock.connect(9090, ipB);
    await connected(sock);
    expect(sock.localAddress).toBe(ipA);
    sock.end('hello');
    expect(await readAll(sock)).toBe('hello');
    expect(app.peers).toHaveLength(1);
    expect(app.peers[0]!.split(':')[0]).toBe(ipA);
  });

  it('refuses host names on pod sockets and reports a missing namespace clearly', () => {
    const sock = createPodSocket(netnsPath(A), { mark: AGENT_MARK });
    expect(() => sock.connect(8080, 'localhost')).toThrow(/not an IP literal/);
    expect(() => createPodSocket('/run/netns/ambt-h3-missing')).toThrow(
      expect.objectContaining({ code: 'AMBIT_E_NETNS', hint: 'the pod network namespace is gone' }),
    );
    expect(() => createPodSocket(netnsPath(A), { bindIp: 'not-an-ip' })).toThrow(/not an IP literal/);
  });

  it('reopens a namespace recreated at the same path and releases cached fds', async () => {
    addNetns(C);
    const first = await listenInNetns(netnsPath(C), 7000, '127.0.0.1');
    await new Promise((r) => first.close(r));
    const before = netnsAddon().cachedNetnsCount();
    delNetns(C);
    addNetns(C);
    const second = await listenInNetns(netnsPath(C), 7001, '127.0.0.1');
    expect(inNs(C, 'ss', ['-Hltn'])).toContain('127.0.0.1:7001');
    await new Promise((r) => second.close(r));
    expect(netnsAddon().cachedNetnsCount()).toBe(before);
    expect(releaseNetns(netnsPath(C))).toBe(true);
    expect(releaseNetns(netnsPath(C))).toBe(false);
    expect(netnsAddon().cachedNetnsCount()).toBe(before - 1);
    expect(sh('ip', ['netns', 'list'])).toContain(C);
  });
});
