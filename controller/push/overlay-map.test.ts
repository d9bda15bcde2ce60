// OverlayMap against a plain Map: any sequence of patches (sets, deletes, deletes of absent
// keys, re-adds) gives the same entries, sizes and lookups, through overlays of overlays and
// the flattening into a plain Map.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OverlayMap } from './overlay-map.js';

const patch = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }));

function check(map: ReadonlyMap<number, number>, model: Map<number, number>): void {
  expect(map.size).toBe(model.size);
  expect([...map].sort((a, b) => a[0] - b[0])).toEqual([...model].sort((a, b) => a[0] - b[0]));
  expect([...map.keys()].sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b));
  expect([...map.values()].sort()).toEqual([...model.values()].sort());
  for (let k = 0; k <= 40; k++) {
    expect(map.has(k)).toBe(model.has(k));
    expect(map.get(k)).toBe(model.get(k));
  }
  const seen: Array<[number, number]> = [];
  map.forEach((v, k) => seen.push([k, v]));
  expect(seen.length).toBe(model.size);
}

describe('OverlayMap', () => {
  it('behaves as the plain map it stands for, over generations of patches', () => {
    fc.assert(
      fc.property(fc.array(fc.array(patch, { maxLength: 12 }), { maxLength: 8 }), (generations) => {
        const model = new Map<number, number>([
          [1, 1],
          [2, 2],
          [3, 3],
        ]);
        let map: ReadonlyMap<number, number> = new Map(model);
        for (const changes of generations) {
          map = OverlayMap.patch(map, changes);
          for (const [k, v] of changes) {
            if (v === undefined) model.delete(k);
            else model.set(k, v);
          }
          check(map, model);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('flattens into a plain Map once the differences outgrow the base', () => {
    const base = new Map(Array.from({ length: 2000 }, (_, i) => [i, i] as const));
    const small = OverlayMap.patch(base, [[5, 50]]);
    expect(small).toBeInstanceOf(OverlayMap);
    const big = OverlayMap.patch(
      small,
      Array.from({ length: 1500 }, (_, i) => [i + 1000, i % 3 === 0 ? undefined : -i] as const),
    );
    expect(big).toBeInstanceOf(Map);
    expect(big.get(5)).toBe(50);
    expect(big.has(1000)).toBe(false);
    expect(big.get(1001)).toBe(-1);
    expect(big.get(2400)).toBe(-1400);
    // 334 of the base's keys 1000..1999 deleted, 334 new keys of 2000..2499 set.
    expect(big.size).toBe(2000);
  });
});
