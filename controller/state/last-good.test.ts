import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../sources/types.js';
import { LastGoodObjects } from './last-good.js';

const ap = (name: string, action: string): KubeObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: 'shop' },
  spec: { action },
});

describe('LastGoodObjects', () => {
  it('replaces a rejected edit by the last accepted version, never a new object', () => {
    const lg = new LastGoodObjects();
    lg.remember([ap('a', 'DENY')], new Set());
    expect(lg.substitute([ap('a', 'DENY'), ap('b', 'ALLOW')], new Set())).toBeUndefined();
    const swap = lg.substitute(
      [ap('a', 'MAYBE'), ap('b', 'NOPE')],
      new Set(['AuthorizationPolicy/shop/a', 'AuthorizationPolicy/shop/b']),
    );
    expect(swap?.replaced).toEqual(['AuthorizationPolicy/shop/a']);
    expect(swap?.objects.map((o) => (o.spec as { action: string }).action)).toEqual(['DENY', 'NOPE']);
    // once forgotten (deleted from the input), nothing is brought back
    lg.remember([], new Set());
    expect(lg.substitute([ap('a', 'MAYBE')], new Set(['AuthorizationPolicy/shop/a']))).toBeUndefined();
  });
});
