import { describe, expect, expectTypeOf, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { decode } from './decode.js';
import { CRDS } from './index.js';
import { arr, int, intOrString, labels, mapOf, obj, oneOfEnum, str } from './schema.js';
import { destinationRule, virtualService } from './networking.js';
import type { PeerAuthenticationSpec, VirtualServiceSpec } from './types.js';

function run<T>(schema: Parameters<typeof decode<T>>[0], value: unknown) {
  const issues: string[] = [];
  const out = decode(schema, value, 'spec', (path, reason) => issues.push(`${path}: ${reason}`));
  return { out, issues };
}

describe('decode', () => {
  const pod = obj(
    { name: str, port: int, mode: oneOfEnum('A', 'B'), tags: arr(str), env: mapOf(str), target: intOrString },
    { required: ['name'] },
  );

  it('returns the typed value of valid input, dropping nulls', () => {
    const { out, issues } = run(pod, {
      name: 'x',
      port: 8080,
      mode: 'A',
      tags: ['a'],
      env: { K: 'v' },
      target: 'http',
    });
    expect(issues).toEqual([]);
    expect(out).toEqual({ name: 'x', port: 8080, mode: 'A', tags: ['a'], env: { K: 'v' }, target: 'http' });
    expect(run(pod, { name: 'x', port: null }).out).toEqual({ name: 'x' });
  });

  it('reports wrong types, enum values, missing required and unknown fields with their path', () => {
    const { out, issues } = run(pod, { port: '80', mode: 'C', tags: ['a', 3], env: { K: 1 }, target: 1.5, extra: 1 });
    expect(issues).toEqual([
      'spec.port: must be an integer, got string "80"',
      'spec.mode: unknown value "C" (allowed: A, B)',
      'spec.tags[1]: must be a string, got number 3',
      'spec.env.K: must be a string, got number 1',
      'spec.target: must be an integer or a string, got number 1.5',
      'spec.extra: unknown field "extra"',
      'spec.name: required field is missing',
    ]);
    expect(out).toEqual({ tags: ['a'], env: {} });
  });

  it('keeps the fields an open object does not list, and refuses __proto__', () => {
    const open = obj({ name: str }, { open: true });
    expect(run(open, { name: 'a', other: { x: 1 } })).toEqual({ out: { name: 'a', other: { x: 1 } }, issues: [] });
    const parsed = JSON.parse('{"__proto__": {"polluted": "yes"}}') as unknown;
    const { out, issues } = run(mapOf(str), parsed);
    expect(issues).toEqual(['spec.__proto__: field name "__proto__" is not allowed']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('types a decoded spec from the same schema the chart renders', () => {
    expectTypeOf<VirtualServiceSpec['hosts']>().toEqualTypeOf<readonly string[] | undefined>();
    expectTypeOf<NonNullable<PeerAuthenticationSpec['mtls']>['mode']>().toEqualTypeOf<
      'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT' | undefined
    >();
    const { out } = run(destinationRule, { host: 'r', subsets: [{ name: 'v1', labels: { version: 'v1' } }] });
    expectTypeOf(out!.host).toEqualTypeOf<string>();
    expect(out?.subsets?.[0]?.labels).toEqual({ version: 'v1' });
    expect(CRDS.find((c) => c.kind === 'VirtualService')?.spec).toBe(virtualService);
    expectTypeOf(labels).not.toBeAny();
  });

  // Outside bytes: any JSON value decodes without throwing, and what comes out is valid input again.
  fcTest.prop([fc.jsonValue({ maxDepth: 6 })], { numRuns: 400 })('never throws; output decodes cleanly', (value) => {
    for (const crd of CRDS) {
      const { out } = run(crd.spec, value);
      if (out === undefined) continue;
      const again = run(crd.spec, out);
      expect(again.issues.filter((i) => !i.endsWith('required field is missing'))).toEqual([]);
      expect(again.out).toEqual(out);
    }
  });
});
