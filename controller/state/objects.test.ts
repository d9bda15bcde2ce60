import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../sources/types.js';
import { ObjectStore } from './objects.js';

const obj = (apiVersion: string, kind: string, name: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, namespace: 'shop' },
  ...extra,
});

describe('ObjectStore', () => {
  it('keeps an Istio Gateway and a Gateway API Gateway of the same name apart', () => {
    const s = new ObjectStore();
    expect(s.apply({ type: 'ADDED', object: obj('networking.istio.io/v1', 'Gateway', 'gw') })).toBe(true);
    expect(s.apply({ type: 'ADDED', object: obj('gateway.networking.k8s.io/v1', 'Gateway', 'gw') })).toBe(true);
    expect(
      s
        .objects()
        .map((o) => o.apiVersion)
        .sort(),
    ).toEqual(['gateway.networking.k8s.io/v1', 'networking.istio.io/v1']);
    s.apply({ type: 'DELETED', object: obj('networking.istio.io/v1beta1', 'Gateway', 'gw') });
    expect(s.objects().map((o) => o.apiVersion)).toEqual(['gateway.networking.k8s.io/v1']);
  });

  it('reports a change only when the content changed, and keeps origins for rejections', () => {
    const s = new ObjectStore();
    const v1 = obj('v1', 'Service', 'web', { spec: { ports: [{ port: 80 }] } });
    expect(s.apply({ type: 'ADDED', object: v1, origin: { file: 'a.yaml', line: 3 } })).toBe(true);
    const before = s.version;
    expect(s.apply({ type: 'MODIFIED', object: structuredClone(v1), origin: { file: 'a.yaml', line: 3 } })).toBe(false);
    expect(s.version).toBe(before);
    expect(
      s.apply({
        type: 'MODIFIED',
        object: obj('v1', 'Service', 'web', { spec: { ports: [{ port: 81 }] } }),
        origin: { file: 'a.yaml', line: 3 },
      }),
    ).toBe(true);
    expect(s.origins().get('Service/shop/web')).toEqual({ file: 'a.yaml', line: 3 });
    expect(s.apply({ type: 'ERROR', message: 'bad yaml', origin: { file: 'b.yaml', line: 7 } })).toBe(false);
    expect(s.errors()).toEqual([{ message: 'bad yaml', origin: { file: 'b.yaml', line: 7 } }]);
  });
});
