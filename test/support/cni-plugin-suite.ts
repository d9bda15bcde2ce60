// ambit-cni against real netns, the reference bridge + host-local plugins, and a real
// enrolment server whose handler is a small stand-in for the agent's decisions.
// One suite, run for each build of the plugin: test/netns/cni-plugin.test.ts (the TS
// build) and test/deploy/sea-cni.test.ts (the single executable).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startEnrolmentServer,
  type EnrolmentServer,
  type PodInfo,
  type QueryAnswer,
} from '../../core/enrolment/index.js';
import {
  checkPodNetns,
  createCniChain,
  createPodNetns,
  deletePodNetns,
  destroyCniChain,
  invokePlugin,
  pluginEnv,
  pluginStdin,
  SYSTEM_CNI_DIR,
  type CniChain,
} from './cni-chain.js';
import { describeNetns } from './privileges.js';
import { filterState, netnsState, redirectsPort53 } from './cni-plugin-state.js';

const run = promisify(execFile);

export interface CniPluginSuiteOptions {
  /** Short tag in every name (netns `ambt-<tag>-…`, temp dir, conflist), one per suite run. */
  tag: string;
  /** Bridges (≤ 15 chars) and IPv4 subnets of the IPv4 chain and the dual-stack chain. */
  bridges: readonly [string, string];
  subnets: readonly [string, string];
  /** IPv6 subnet of the dual-stack chain. */
  subnet6: string;
  /** The ambit-cni executable, read in beforeAll (an outer beforeAll may build it); default: a bundle of cni/main.ts. */
  plugin?: () => string;
  /** Extra environment for the plugin's direct invocations, e.g. `{ PATH: '/nonexistent' }`. */
  env?: Record<string, string>;
}

/**
 * The agent's decisions: namespace "mesh" is enrolled, "mesh-nodns" too but with DNS capture
 * off; adds of pods named refuse-* fail; hang-* never answer.
 */
class FakeAgentDecisions {
  pods = new Map<string, PodInfo>();
  deleted: string[] = [];
  async query(q: { namespace: string }): Promise<QueryAnswer> {
    if (q.namespace === 'mesh-nodns') return { enrolled: true, dnsCapture: false };
    return { enrolled: q.namespace === 'mesh' };
  }
  async add(pod: PodInfo): Promise<void> {
    if (pod.name.startsWith('refuse')) throw new Error(`no certificate for ${pod.namespace}/${pod.name}`);
    if (pod.name.startsWith('hang')) await new Promise(() => undefined);
    this.pods.set(pod.uid, pod);
  }
  async delete(uid: string): Promise<void> {
    this.deleted.push(uid);
    this.pods.delete(uid);
  }
  async list(): Promise<PodInfo[]> {
    return [...this.pods.values()];
  }
}

interface ManualPod {
  namespace: string;
  name: string;
  uid: string;
  containerId: string;
  netnsName: string;
  netnsPath: string;
  ifName: string;
  prev: Record<string, unknown>;
}

async function sh(netns: string, cmd: string, ...args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', netns, cmd, ...args])).stdout;
}
export function cniPluginSuite(title: string, o: CniPluginSuiteOptions): void {
  describeNetns(title, () => {
    const [BRIDGE, BRIDGE6] = o.bridges;
    const [SUBNET, SUBNET46] = o.subnets;
    const plugin = (): { plugin?: string } => (o.plugin ? { plugin: o.plugin() } : {});
    let dir: string;
    let server: EnrolmentServer;
    let agent: FakeAgentDecisions;
    let chain: CniChain;
    const manual: ManualPod[] = [];
    let seq = 0;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `ambt-${o.tag}-`));
      agent = new FakeAgentDecisions();
      server = await startEnrolmentServer(join(dir, 'agent.sock'), agent);
      chain = await createCniChain({
        suite: o.tag,
        bridge: BRIDGE,
        subnet: SUBNET,
        agentSocket: join(dir, 'agent.sock'),
        addTimeoutMs: 1500,
        ...plugin(),
      });
    });
    afterAll(async () => {
      for (const p of manual) await run('ip', ['netns', 'del', p.netnsName]).catch(() => undefined);
      await destroyCniChain(chain);
      await server.close();
      await rm(dir, { recursive: true, force: true });
    });

    const ambitConf = (): Record<string, unknown> => chain.conflist.plugins.find((p) => p.type === 'ambit-cni')!;
    const bridgeConf = (): Record<string, unknown> & { type: string } =>
      chain.conflist.plugins.find((p) => p.type === 'bridge')!;

    /** A netns networked by the bridge plugin only (what the runtime has done before calling us). */
    async function bridgedPod(
      namespace: string,
      name: string,
      cniVersion = chain.conflist.cniVersion,
    ): Promise<ManualPod> {
      const netnsName = `ambt-${o.tag}-${name}-${++seq}`;
      await run('ip', ['netns', 'add', netnsName]);
      const pod = {
        namespace,
        name,
        uid: `uid-${name}-${seq}`,
        containerId: `cid${seq}${'0'.repeat(20)}`,
        netnsName,
        netnsPath: `/var/run/netns/${netnsName}`,
        ifName: 'eth0',
      };
      manual.push({ ...pod, prev: {} });
      const stdin = JSON.stringify({ ...bridgeConf(), cniVersion, name: chain.conflist.name });
      const out = await invokePlugin(join(SYSTEM_CNI_DIR, 'bridge'), pluginEnv(chain, pod, 'ADD'), stdin);
      expect(out.exitCode, out.stdout + out.stderr).toBe(0);
      const m = { ...pod, prev: out.json! };
      manual[manual.length - 1] = m;
      return m;
    }

    function ambit(
      cmd: string,
      pod: ManualPod,
      opts: {
        conf?: Record<string, unknown>;
        stdin?: string;
        env?: Record<string, string | undefined>;
        cniVersion?: string;
      } = {},
    ) {
      const conf = { ...ambitConf(), ...opts.conf };
      const stdin =
        opts.stdin ??
        JSON.stringify({
          ...conf,
          cniVersion: opts.cniVersion ?? chain.conflist.cniVersion,
          name: chain.conflist.name,
          prevResult: pod.prev,
        });
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...pluginEnv(chain, pod, cmd), ...o.env, ...opts.env }))
        if (v !== undefined) env[k] = v;
      return invokePlugin(join(chain.cniPath.split(':')[0]!, 'ambit-cni'), env, stdin);
    }

    afterEach(async () => {
      for (const p of manual.splice(0)) {
        await invokePlugin(
          join(SYSTEM_CNI_DIR, 'bridge'),
          pluginEnv(chain, p, 'DEL'),
          pluginStdin(chain, bridgeConf(), p.prev),
        ).catch(() => undefined);
        await run('ip', ['netns', 'del', p.netnsName]).catch(() => undefined);
      }
    });

    it('VERSION lists the supported versions', async () => {
      const out = await invokePlugin(
        join(chain.cniPath.split(':')[0]!, 'ambit-cni'),
        { ...o.env, CNI_COMMAND: 'VERSION' },
        '{"cniVersion":"0.4.0"}',
      );
      expect(out.exitCode).toBe(0);
      expect(out.json).toEqual({ cniVersion: '0.4.0', supportedVersions: expect.arrayContaining(['0.4.0', '1.0.0']) });
    });

    it('ADD of an enrolled pod writes the capture and enrols it; prevResult comes back unchanged; CHECK and DEL', async () => {
      const pod = await bridgedPod('mesh', 'web');
      const out = await ambit('ADD', pod);
      expect(out.exitCode, out.stdout + out.stderr).toBe(0);
      expect(out.json).toEqual(pod.prev);

      const save = await sh(pod.netnsName, 'iptables-save');
      expect(save).toContain('-A OUTPUT -p tcp -j AMBIT_OUTPUT');
      expect(save).toContain('-A AMBIT_OUTPUT -p tcp -j REDIRECT --to-ports 15001');
      expect(save).toContain('-A AMBIT_OUTPUT -o lo -j RETURN');
      expect(save).toContain('-A AMBIT_OUTPUT -m mark --mark 0x539/0xfff -j RETURN');
      expect(save).toContain('-A PREROUTING -p tcp -j AMBIT_INBOUND');
      expect(save).toContain('-A AMBIT_INBOUND -p tcp -m tcp --dport 15008 -j RETURN');
      expect(save).toContain('-A AMBIT_INBOUND -p tcp -j REDIRECT --to-ports 15006');
      expect(save).toContain('-A AMBIT_PREROUTING -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff');
      expect(save).toMatch(/-A AMBIT_OUTPUT -m connmark --mark 0x111\/0xfff -j CONNMARK --restore-mark/);
      expect(await sh(pod.netnsName, 'ip', 'rule', 'show')).toMatch(/fwmark 0x111\/0xfff lookup 100/);
      expect(await sh(pod.netnsName, 'ip', 'route', 'show', 'table', '100')).toMatch(/^local default dev lo/m);

      const ip = (pod.prev.ips as Array<{ address: string }>)[0]!.address.split('/')[0];
      expect(agent.pods.get(pod.uid)).toEqual({
        uid: pod.uid,
        name: 'web',
        namespace: 'mesh',
        netnsPath: pod.netnsPath,
        ips: [ip],
      });

      expect((await ambit('CHECK', pod)).exitCode).toBe(0);
      await sh(
        pod.netnsName,
        'iptables',
        '-t',
        'nat',
        '-D',
        'AMBIT_INBOUND',
        '-p',
        'tcp',
        '-m',
        'tcp',
        '--dport',
        '15008',
        '-j',
        'RETURN',
      );
      const check = await ambit('CHECK', pod);
      expect(check.exitCode).not.toBe(0);
      expect(check.json).toMatchObject({ cniVersion: '1.0.0', code: 102 });
      expect(String(check.json!.details)).toContain('--dport 15008');

      const del = await ambit('DEL', pod);
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect(agent.deleted).toContain(pod.uid);
      expect(agent.pods.has(pod.uid)).toBe(false);
      expect(await sh(pod.netnsName, 'iptables-save')).not.toContain('AMBIT_');
      expect(await sh(pod.netnsName, 'ip', 'rule', 'show')).not.toMatch(/fwmark 0x111/);
      // DEL again, DEL without a netns, DEL after the netns is gone: all fine
      expect((await ambit('DEL', pod)).exitCode).toBe(0);
      expect((await ambit('DEL', pod, { env: { CNI_NETNS: '' } })).exitCode).toBe(0);
      await run('ip', ['netns', 'del', pod.netnsName]);
      const gone = await ambit('DEL', pod);
      expect(gone.exitCode, gone.stdout).toBe(0);
    });

    it('a repeated ADD leaves one copy of the rules; CHECK notices a pod the agent lost; DEL works without the agent', async () => {
      const pod = await bridgedPod('mesh', 'again');
      expect((await ambit('ADD', pod)).exitCode).toBe(0);
      const once = await filterState(pod.netnsName);
      const again = await ambit('ADD', pod);
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      expect(await filterState(pod.netnsName)).toEqual(once);
      expect((await sh(pod.netnsName, 'ip', 'rule', 'show')).match(/fwmark 0x111/g)).toHaveLength(1);
      expect((await ambit('CHECK', pod)).exitCode).toBe(0);

      agent.pods.delete(pod.uid); // e.g. an agent that restarted without its state
      const check = await ambit('CHECK', pod);
      expect(check.json).toMatchObject({ code: 102 });
      expect(String(check.json!.details)).toContain('does not hold pod');

      const del = await ambit('DEL', pod, { conf: { agentSocket: join(dir, 'gone.sock') } });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect(await sh(pod.netnsName, 'iptables-save')).not.toContain('AMBIT_');
      expect(await sh(pod.netnsName, 'ip', 'route', 'show', 'table', 'all')).not.toMatch(/table 100/);
    });

    it("with the mesh's DNS capture off, ADD captures TCP but redirects nothing on port 53; CHECK agrees", async () => {
      const plain = await bridgedPod('mesh', 'dns-on');
      expect((await ambit('ADD', plain)).exitCode).toBe(0);
      expect(redirectsPort53(await filterState(plain.netnsName))).toEqual({ udp: true, tcp: true });

      const pod = await bridgedPod('mesh-nodns', 'dns-off');
      const out = await ambit('ADD', pod);
      expect(out.exitCode, out.stdout + out.stderr).toBe(0);
      expect(agent.pods.has(pod.uid)).toBe(true);
      const state = await filterState(pod.netnsName);
      expect(redirectsPort53(state)).toEqual({ udp: false, tcp: false });
      // Still captured: outbound and inbound TCP go to the agent.
      expect(state.nat?.AMBIT_OUTPUT?.rules).toContain('-p tcp -j REDIRECT --to-ports 15001');
      expect(state.nat?.AMBIT_INBOUND?.rules).toContain('-p tcp -j REDIRECT --to-ports 15006');
      expect((await ambit('CHECK', pod)).exitCode).toBe(0);
      expect((await ambit('DEL', pod)).exitCode).toBe(0);
      expect(await sh(pod.netnsName, 'iptables-save')).not.toContain('AMBIT_');
    });

    it('a pod that is not enrolled passes through untouched', async () => {
      const pod = await bridgedPod('plain', 'db');
      const before = await netnsState(pod.netnsName);
      const out = await ambit('ADD', pod);
      expect(out.exitCode, out.stdout + out.stderr).toBe(0);
      expect(out.json).toEqual(pod.prev);
      expect(await sh(pod.netnsName, 'iptables-save')).not.toContain('AMBIT_');
      expect(await netnsState(pod.netnsName)).toEqual(before);
      expect(agent.pods.has(pod.uid)).toBe(false);
      expect((await ambit('CHECK', pod)).exitCode).toBe(0);
    });

    it('echoes a 0.4.0 config version', async () => {
      const pod = await bridgedPod('mesh', 'old', '0.4.0');
      expect(pod.prev.cniVersion).toBe('0.4.0');
      const out = await ambit('ADD', pod, { cniVersion: '0.4.0' });
      expect(out.exitCode, out.stdout + out.stderr).toBe(0);
      expect(out.json).toEqual(pod.prev);
      expect((await ambit('CHECK', pod, { cniVersion: '0.4.0' })).exitCode).toBe(0);
      expect((await ambit('DEL', pod, { cniVersion: '0.4.0' })).exitCode).toBe(0);
    });

    describe('errors leave the netns as it was', () => {
      const cases: Array<{
        what: string;
        ns?: string;
        name?: string;
        code: number;
        opts: Parameters<typeof ambit>[2];
        cmd?: string;
      }> = [
        { what: 'malformed stdin', code: 6, opts: { stdin: '{"cniVersion": "1.0.0", "name": ' } },
        { what: 'missing CNI_NETNS', code: 4, opts: { env: { CNI_NETNS: undefined } } },
        { what: 'missing CNI_CONTAINERID', code: 4, opts: { env: { CNI_CONTAINERID: undefined } } },
        { what: 'unknown command', code: 4, cmd: 'FROB', opts: {} },
        { what: 'unsupported cniVersion', code: 1, opts: { cniVersion: '9.0.0' } },
        {
          what: 'an unreachable agent',
          code: 11,
          opts: { conf: { agentSocket: `/var/run/ambt-${o.tag}-none/agent.sock` } },
        },
        { what: 'the agent refusing the add', name: 'refuse-me', code: 100, opts: {} },
        { what: 'the agent not answering the add', name: 'hang-on', code: 11, opts: {} },
      ];
      for (const c of cases) {
        it(`${c.what} → CNI error ${c.code}, exit non-zero`, async () => {
          const pod = await bridgedPod(c.ns ?? 'mesh', c.name ?? 'err');
          // a rule of someone else's must survive our rollback
          await sh(pod.netnsName, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-d', '192.0.2.1/32', '-j', 'RETURN');
          const before = await netnsState(pod.netnsName);
          const out = await ambit(c.cmd ?? 'ADD', pod, c.opts);
          expect(out.exitCode).not.toBe(0);
          expect(out.json).toMatchObject({ code: c.code, msg: expect.any(String), details: expect.any(String) });
          expect(out.json!.cniVersion).toMatch(/^\d+\.\d+\.\d+$/);
          expect(await netnsState(pod.netnsName)).toEqual(before);
          expect(agent.pods.has(pod.uid)).toBe(false);
          if (c.name === 'hang-on') expect(agent.deleted).toContain(pod.uid);
        });
      }
    });

    it('a dual-stack pod gets the capture for IPv6 too, and a refused dual-stack add is rolled back', async () => {
      const chain6 = await createCniChain({
        suite: o.tag,
        bridge: BRIDGE6,
        subnet: SUBNET46,
        subnet6: o.subnet6,
        agentSocket: join(dir, 'agent.sock'),
        ...plugin(),
      });
      try {
        const p = await createPodNetns(chain6, { namespace: 'mesh', name: 'dual' });
        try {
          expect(p.ip6?.startsWith(o.subnet6.split('/')[0]!)).toBe(true);
          expect(agent.pods.get(p.uid)?.ips).toEqual([p.ip, p.ip6]);
          const save6 = await sh(p.netnsName, 'ip6tables-save');
          expect(save6).toContain('-A AMBIT_OUTPUT -p tcp -j REDIRECT --to-ports 15001');
          expect(save6).toContain('-A AMBIT_INBOUND -p tcp -m tcp --dport 15008 -j RETURN');
          expect(await sh(p.netnsName, 'ip', '-6', 'rule', 'show')).toMatch(/fwmark 0x111\/0xfff lookup 100/);
          await checkPodNetns(chain6, p);
          await sh(p.netnsName, 'ip', '-6', 'rule', 'del', 'fwmark', '0x111/0xfff', 'lookup', '100');
          await expect(checkPodNetns(chain6, p)).rejects.toThrow(/IPv6 ip rule/);
        } finally {
          await deletePodNetns(chain6, p);
        }
        // rollback of a refused add on a dual-stack netns: compare the whole state
        const netnsName = `ambt-${o.tag}-refuse-dual`;
        await run('ip', ['netns', 'add', netnsName]);
        try {
          await run('ip', ['-n', netnsName, 'link', 'set', 'lo', 'up']);
          const pod = {
            namespace: 'mesh',
            name: 'refuse-dual',
            uid: 'uid-refuse-dual',
            containerId: 'c'.repeat(32),
            netnsPath: `/var/run/netns/${netnsName}`,
            ifName: 'eth0',
          };
          const bridge = chain6.conflist.plugins[0]!;
          const b = await invokePlugin(
            join(SYSTEM_CNI_DIR, 'bridge'),
            pluginEnv(chain6, pod, 'ADD'),
            pluginStdin(chain6, bridge),
          );
          expect(b.exitCode, b.stdout).toBe(0);
          const before = await netnsState(netnsName);
          const out = await invokePlugin(
            join(chain6.cniPath.split(':')[0]!, 'ambit-cni'),
            { ...pluginEnv(chain6, pod, 'ADD'), ...o.env },
            pluginStdin(chain6, chain6.conflist.plugins[1]!, b.json),
          );
          expect(out.json).toMatchObject({ code: 100 });
          expect(await netnsState(netnsName)).toEqual(before);
          await invokePlugin(
            join(SYSTEM_CNI_DIR, 'bridge'),
            pluginEnv(chain6, pod, 'DEL'),
            pluginStdin(chain6, bridge, b.json),
          );
        } finally {
          await run('ip', ['netns', 'del', netnsName]).catch(() => undefined);
        }
      } finally {
        await destroyCniChain(chain6);
      }
    });

    it('the chain helper creates, checks and deletes enrolled pods as a kubelet would', async () => {
      const a = await createPodNetns(chain, { namespace: 'mesh', name: 'chain-a' });
      try {
        expect(a.ip.startsWith(SUBNET.replace(/\.0\/\d+$/, '.'))).toBe(true);
        expect(agent.pods.get(a.uid)?.ips).toEqual([a.ip]);
        await checkPodNetns(chain, a);
        expect(await sh(a.netnsName, 'iptables-save')).toContain('AMBIT_INBOUND');
      } finally {
        await deletePodNetns(chain, a);
      }
      expect(agent.pods.has(a.uid)).toBe(false);
      await expect(run('ip', ['netns', 'exec', a.netnsName, 'true'])).rejects.toThrow();
      await expect(createPodNetns(chain, { namespace: 'mesh', name: 'refuse-chain' })).rejects.toThrow(
        /ambit-cni ADD failed/,
      );
      await expect(run('ip', ['netns', 'exec', `ambt-${o.tag}-refuse-chain`, 'true'])).rejects.toThrow();
    });
  });
}
