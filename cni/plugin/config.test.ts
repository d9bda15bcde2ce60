import { describe, expect, it } from 'vitest';
import { compareVersions, parseCniArgs, parseConfig, parseEnv, podIps, podRef } from './config.js';
import { CniError } from './errors.js';

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CniError ? err.code : -1;
  }
  return undefined;
}

describe('plugin config', () => {
  it('parses a chained config with defaults', () => {
    const c = parseConfig(
      JSON.stringify({ cniVersion: '0.4.0', name: 'net', type: 'ambit-cni', prevResult: { ips: [] } }),
    );
    expect(c).toEqual({
      cniVersion: '0.4.0',
      name: 'net',
      type: 'ambit-cni',
      agentSocket: '/var/run/ambit/agent.sock',
      addTimeoutMs: 30000,
      prevResult: { ips: [] },
    });
  });

  it('maps bad input to the spec codes', () => {
    expect(codeOf(() => parseConfig('{not json'))).toBe(6);
    expect(codeOf(() => parseConfig('[]'))).toBe(6);
    expect(codeOf(() => parseConfig('{"cniVersion":"9.9.9","name":"n","type":"t"}'))).toBe(1);
    expect(codeOf(() => parseConfig('{"cniVersion":"1.0.0","type":"t"}'))).toBe(7);
    expect(codeOf(() => parseConfig('{"cniVersion":"1.0.0","name":"n","type":"t","agentSocket":5}'))).toBe(7);
  });

  it('reads the environment per command', () => {
    const base = { CNI_CONTAINERID: 'c', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    expect(parseEnv({ ...base, CNI_COMMAND: 'ADD', CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b' }).args).toEqual({
      K8S_POD_NAMESPACE: 'a',
      K8S_POD_NAME: 'b',
    });
    expect(codeOf(() => parseEnv({ ...base }))).toBe(4);
    expect(codeOf(() => parseEnv({ ...base, CNI_COMMAND: 'FROB' }))).toBe(4);
    expect(codeOf(() => parseEnv({ ...base, CNI_COMMAND: 'ADD', CNI_NETNS: '' }))).toBe(4);
    expect(codeOf(() => parseEnv({ ...base, CNI_COMMAND: 'ADD', CNI_CONTAINERID: undefined }))).toBe(4);
    // DEL without a netns is legal (sandbox already gone)
    expect(parseEnv({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns).toBe('');
    expect(parseEnv({ CNI_COMMAND: 'VERSION' }).command).toBe('VERSION');
    expect(codeOf(() => parseCniArgs('a=1;oops'))).toBe(4);
  });

  it('finds the pod from CNI_ARGS', () => {
    const env = parseEnv({
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'cid',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web',
    });
    expect(podRef(env)).toEqual({ namespace: 'shop', name: 'web', uid: 'container:cid' });
    expect(podRef({ ...env, args: { K8S_POD_NAMESPACE: 'shop' } })).toBeUndefined();
  });

  it('takes the pod IPs only from interfaces inside the sandbox', () => {
    const prev = {
      interfaces: [{ name: 'br0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/var/run/netns/p' }],
      ips: [
        { interface: 2, address: '10.1.0.5/24', gateway: '10.1.0.1' },
        { interface: 0, address: '10.1.0.1/24' },
        { address: 'fd00::5/64' },
        { interface: 2, address: 'garbage' },
      ],
    };
    expect(podIps(prev, '/var/run/netns/p')).toEqual(['10.1.0.5', 'fd00::5']);
    expect(podIps({}, '/x')).toEqual([]);
  });

  it('compares versions', () => {
    expect(compareVersions('0.3.1', '0.4.0')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareVersions('0.4.0', '0.4.0')).toBe(0);
  });
});
