// The cluster simulation's scheduler check: a pod goes only to nodes whose NoSchedule taints it tolerates.
import { describe, expect, it } from 'vitest';
import type { FakeObject } from '../support/fake-apiserver.js';
import { tolerates } from './control-plane.js';

const node = (taints: unknown[]): FakeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'n' },
  spec: { taints },
});
const pod = (tolerations?: unknown[]): FakeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns' },
  spec: { containers: [], ...(tolerations ? { tolerations } : {}) },
});
const notReady = { key: 'ambit.dev/agent-not-ready', effect: 'NoSchedule' };

describe('scheduler taints', () => {
  it('keeps an intolerant pod off a tainted node and lets it on an untainted one', () => {
    expect(tolerates(pod(), node([notReady]))).toBe(false);
    expect(tolerates(pod(), node([]))).toBe(true);
    expect(tolerates(pod(), node([{ key: 'x', effect: 'PreferNoSchedule' }]))).toBe(true);
  });
  it('honours tolerations by key, by Exists without a key, by value and by effect', () => {
    expect(tolerates(pod([{ key: notReady.key, operator: 'Exists', effect: 'NoSchedule' }]), node([notReady]))).toBe(
      true,
    );
    expect(tolerates(pod([{ operator: 'Exists' }]), node([notReady]))).toBe(true);
    expect(tolerates(pod([{ key: notReady.key, operator: 'Exists', effect: 'NoExecute' }]), node([notReady]))).toBe(
      false,
    );
    expect(tolerates(pod([{ key: 'other', operator: 'Exists' }]), node([notReady]))).toBe(false);
    const valued = { key: 'dedicated', value: 'db', effect: 'NoSchedule' };
    expect(tolerates(pod([{ key: 'dedicated', operator: 'Equal', value: 'db' }]), node([valued]))).toBe(true);
    expect(tolerates(pod([{ key: 'dedicated', operator: 'Equal', value: 'web' }]), node([valued]))).toBe(false);
  });
});
