// The cluster's machines and wires: each node is a network namespace linked to the host (where
// the test and its API server run) and directly to the other node (the inter-node link, where
// the test listens with tcpdump). The pod bridge on each node is created later by the CNI
// `bridge` plugin. A tiny kube-proxy (iptables DNAT in each node's nat table) makes Service
// ClusterIPs reach their endpoints for traffic the mesh does not capture (host-network agents
// and unmeshed pods calling the controller).
import { execFile } from 'node:child_process';

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(
  cmd: string,
  args: readonly string[],
  opts: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Exec> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      [...args],
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 32 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr: stderr || (err && code === 1 && !stderr ? err.message : '') });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.stdin ?? '');
  });
}

/** Run and throw with the command's stderr when it fails. */
export async function must(cmd: string, args: readonly string[], opts: Parameters<typeof sh>[2] = {}): Promise<string> {
  const r = await sh(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface NodeAddressing {
  readonly name: string;
  /** The node's network namespace. */
  readonly netns: string;
  /** Host side and node side of the host link (a /30). */
  readonly hostLinkIp: string;
  readonly nodeIp: string;
  /** Interface names: host side of the host link, node side of the inter-node link. */
  readonly hostVeth: string;
  readonly peerVeth: string;
  /** This node's end of the inter-node link. */
  readonly peerLinkIp: string;
  /** The pod subnet (host-local) and its bridge. */
  readonly podCidr: string;
  readonly bridge: string;
}

/**
 * Two nodes for suite `tag` (2-4 chars) in 10.<octet>.0.0/16: host links 10.o.0.0/30 and
 * 10.o.0.4/30, inter-node link 10.o.0.8/30, pods 10.o.1.0/24 and 10.o.2.0/24, Services 10.o.128.0/24.
 */
export function addressing(
  tag: string,
  octet: number,
): { nodes: [NodeAddressing, NodeAddressing]; serviceCidr: string; apiServerIp: string } {
  const p = `10.${octet}`;
  const node = (i: 0 | 1, name: string): NodeAddressing => ({
    name,
    netns: `${tag}-${name}`,
    hostLinkIp: `${p}.0.${i * 4 + 1}`,
    nodeIp: `${p}.0.${i * 4 + 2}`,
    hostVeth: `${tag}-h${i}`,
    peerVeth: `${tag}-p${i}`,
    peerLinkIp: `${p}.0.${9 + i}`,
    podCidr: `${p}.${i + 1}.0/24`,
    bridge: `${tag}-br${i}`,
  });
  return { nodes: [node(0, 'node-a'), node(1, 'node-b')], serviceCidr: `${p}.128.0/24`, apiServerIp: `${p}.0.1` };
}

/** Remove the nodes (namespaces, host-side veths; routes go with the veths). */
export async function removeNodes(nodes: readonly NodeAddressing[]): Promise<void> {
  for (const n of nodes) {
    await sh('ip', ['link', 'del', n.hostVeth]);
    await sh('ip', ['netns', 'del', n.netns]);
  }
}

/**
 * What a killed run of suite `tag` left: every network namespace named `<tag>-…` (nodes and
 * pods; the processes still inside them were started by that run and are killed) and the nodes.
 */
export async function removeLeftovers(tag: string, nodes: readonly NodeAddressing[]): Promise<void> {
  const list = (await sh('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${tag}-`));
  for (const ns of list) {
    for (const pid of (await sh('ip', ['netns', 'pids', ns])).stdout
      .split('\n')
      .map(Number)
      .filter((p) => p > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const ns of list) await sh('ip', ['netns', 'del', ns]);
  await removeNodes(nodes);
}

/** Network namespaces, host veths and host routes of suite `tag` that still exist. */
export async function leftovers(tag: string, nodes: readonly NodeAddressing[]): Promise<string[]> {
  const out = (await sh('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${tag}-`))
    .map((n) => `netns ${n}`);
  for (const n of nodes) {
    if ((await sh('ip', ['link', 'show', n.hostVeth])).code === 0) out.push(`link ${n.hostVeth}`);
    if ((await sh('ip', ['route', 'show', n.podCidr])).stdout.trim()) out.push(`route ${n.podCidr}`);
  }
  return out;
}

/** Create both nodes, their host links, the inter-node link and the routes between all of them. */
export async function createNodes(nodes: readonly [NodeAddressing, NodeAddressing]): Promise<void> {
  for (const n of nodes) {
    await must('ip', ['netns', 'add', n.netns]);
    await must('ip', ['-n', n.netns, 'link', 'set', 'lo', 'up']);
    await must('ip', ['link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
    await must('ip', ['addr', 'add', `${n.hostLinkIp}/30`, 'dev', n.hostVeth]);
    await must('ip', ['link', 'set', n.hostVeth, 'up']);
    await must('ip', ['-n', n.netns, 'addr', 'add', `${n.nodeIp}/30`, 'dev', 'eth0']);
    await must('ip', ['-n', n.netns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', n.netns, 'route', 'add', 'default', 'via', n.hostLinkIp]);
    await must('ip', ['netns', 'exec', n.netns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // The host reaches the node's pods (API server answers, readiness probes) over its link.
    await must('ip', ['route', 'replace', n.podCidr, 'via', n.nodeIp, 'dev', n.hostVeth]);
  }
  const [a, b] = nodes;
  await must('ip', [
    '-n',
    a.netns,
    'link',
    'add',
    a.peerVeth,
    'type',
    'veth',
    'peer',
    'name',
    b.peerVeth,
    'netns',
    b.netns,
  ]);
  for (const [n, other] of [
    [a, b],
    [b, a],
  ] as const) {
    await must('ip', ['-n', n.netns, 'addr', 'add', `${n.peerLinkIp}/30`, 'dev', n.peerVeth]);
    await must('ip', ['-n', n.netns, 'link', 'set', n.peerVeth, 'up']);
    await must('ip', ['-n', n.netns, 'route', 'add', other.podCidr, 'via', other.peerLinkIp]);
  }
}

export interface ServiceEndpoints {
  clusterIp: string;
  port: number;
  protocol: string;
  targets: Array<{ ip: string; port: number }>;
}

/** kube-proxy's job on one node: DNAT each ClusterIP:port to its endpoints (random choice). */
export async function syncKubeProxy(netns: string, services: readonly ServiceEndpoints[]): Promise<void> {
  const lines = [
    '*nat',
    ':AMBSIM-SERVICES - [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':PREROUTING ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    '-A OUTPUT -j AMBSIM-SERVICES',
    '-A PREROUTING -j AMBSIM-SERVICES',
  ];
  for (const s of services) {
    const n = s.targets.length;
    s.targets.forEach((t, i) => {
      const left = n - i;
      const pick = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', (1 / left).toFixed(5)] : [];
      lines.push(
        [
          '-A AMBSIM-SERVICES',
          '-d',
          `${s.clusterIp}/32`,
          '-p',
          s.protocol.toLowerCase(),
          '--dport',
          String(s.port),
          ...pick,
          '-j',
          'DNAT',
          '--to-destination',
          `${t.ip}:${t.port}`,
        ].join(' '),
      );
    });
  }
  lines.push('COMMIT', '');
  await must('ip', ['netns', 'exec', netns, 'iptables-restore', '-w'], { stdin: lines.join('\n') });
}
