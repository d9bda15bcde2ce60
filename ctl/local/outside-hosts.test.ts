import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hostVethName, outsideHostOf, serverNamesFor } from './outside-hosts.js';
import { planLocal } from './plan.js';

const COFFEE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'coffee-shop');

describe('hosts outside the mesh (local up)', () => {
  it('keeps the example external-api out of the pods and out of what the controller sees', async () => {
    const plan = await planLocal(COFFEE, { nodeName: 'n1' });
    expect(plan.outsideHosts).toEqual([
      expect.objectContaining({ namespace: 'external', name: 'external-api', address: '203.0.113.10' }),
    ]);
    expect(plan.pods.map((p) => p.name)).not.toContain('external-api');
    expect([...plan.files.values()].join('\n')).not.toContain('outside-mesh-address');
    expect(plan.snapshot.workloads.map((w) => w.name)).not.toContain('external-api');
    // Its certificate names the ServiceEntry host whose endpoint it is.
    expect(serverNamesFor(plan.snapshot.services, '203.0.113.10')).toEqual(['api.external.example']);
  });

  it('refuses an address that is not IPv4, or one inside the pod CIDR', async () => {
    const pod = (address: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'x', namespace: 'ext', annotations: { 'ambit.dev/outside-mesh-address': address } },
      spec: { containers: [{ name: 'a', command: ['node', 'x.mjs'] }] },
    });
    expect(() => outsideHostOf(pod('api.example'))).toThrow(/Pod\/ext\/x: .*is not an IPv4 address/);
    const dir = await mkdtemp(path.join(tmpdir(), 'ambit-outside-'));
    try {
      await writeFile(path.join(dir, 'x.yaml'), JSON.stringify(pod('10.244.9.9')));
      await expect(planLocal(dir)).rejects.toThrow(/10\.244\.9\.9 is inside the pod CIDR/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the host end of the veth within 15 bytes', () => {
    expect(hostVethName('ambit-', 0)).toBe('ambit-o0');
    expect(hostVethName('a-very-long-prefix-', 12)).toHaveLength(15);
  });
});
