import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_CONFIG, type PeerAuthentication } from '../model/types.js';
import { effectiveMtlsMode } from './peer-authn.js';
import { peerAuthn } from './test-fixtures.js';

const mesh = DEFAULT_MESH_CONFIG;
const finance = { namespace: 'foo', labels: { app: 'finance' } };

describe('effectiveMtlsMode', () => {
  const table: Array<
    [string, PeerAuthentication[], number, 'STRICT' | 'PERMISSIVE' | 'DISABLE', { ambient?: boolean }?]
  > = [
    ['no policy → PERMISSIVE', [], 8080, 'PERMISSIVE'],
    ['mesh STRICT', [peerAuthn('istio-system', 'default', 'STRICT')], 8080, 'STRICT'],
    ['mesh UNSET → PERMISSIVE', [peerAuthn('istio-system', 'default', 'UNSET')], 8080, 'PERMISSIVE'],
    [
      'namespace overrides mesh',
      [peerAuthn('istio-system', 'default', 'STRICT'), peerAuthn('foo', 'default', 'PERMISSIVE')],
      8080,
      'PERMISSIVE',
    ],
    [
      'namespace UNSET inherits mesh',
      [peerAuthn('istio-system', 'default', 'STRICT'), peerAuthn('foo', 'default', 'UNSET')],
      8080,
      'STRICT',
    ],
    ['other namespace ignored', [peerAuthn('bar', 'default', 'STRICT')], 8080, 'PERMISSIVE'],
    [
      'workload overrides namespace',
      [
        peerAuthn('foo', 'default', 'PERMISSIVE'),
        peerAuthn('foo', 'finance', 'STRICT', { selector: { app: 'finance' } }),
      ],
      8080,
      'STRICT',
    ],
    [
      'non-matching selector ignored',
      [peerAuthn('foo', 'default', 'PERMISSIVE'), peerAuthn('foo', 'web', 'STRICT', { selector: { app: 'web' } })],
      8080,
      'PERMISSIVE',
    ],
    [
      'workload UNSET inherits namespace',
      [peerAuthn('foo', 'default', 'STRICT'), peerAuthn('foo', 'finance', 'UNSET', { selector: { app: 'finance' } })],
      8080,
      'STRICT',
    ],
    [
      'port level overrides workload',
      [peerAuthn('foo', 'finance', 'STRICT', { selector: { app: 'finance' }, portLevel: { 8080: 'DISABLE' } })],
      8080,
      'DISABLE',
    ],
    [
      'port level only for that port',
      [peerAuthn('foo', 'finance', 'STRICT', { selector: { app: 'finance' }, portLevel: { 8080: 'DISABLE' } })],
      9090,
      'STRICT',
    ],
    [
      'port level UNSET inherits workload',
      [peerAuthn('foo', 'finance', 'STRICT', { selector: { app: 'finance' }, portLevel: { 8080: 'UNSET' } })],
      8080,
      'STRICT',
    ],
    [
      'workload UNSET + port level, inherits namespace elsewhere',
      [
        peerAuthn('foo', 'default', 'STRICT'),
        peerAuthn('foo', 'finance', 'UNSET', { selector: { app: 'finance' }, portLevel: { 8080: 'PERMISSIVE' } }),
      ],
      9090,
      'STRICT',
    ],
    [
      'workload UNSET + port level on the port',
      [
        peerAuthn('foo', 'default', 'STRICT'),
        peerAuthn('foo', 'finance', 'UNSET', { selector: { app: 'finance' }, portLevel: { 8080: 'PERMISSIVE' } }),
      ],
      8080,
      'PERMISSIVE',
    ],
    [
      'port level of a namespace policy ignored',
      [{ ...peerAuthn('foo', 'default', 'STRICT'), portLevel: { 8080: 'PERMISSIVE' } }],
      8080,
      'STRICT',
    ],
    [
      'selector policy in root namespace ignored',
      [peerAuthn('istio-system', 'finance', 'STRICT', { selector: { app: 'finance' } })],
      8080,
      'PERMISSIVE',
    ],
    [
      'DISABLE reported (sidecar semantics)',
      [peerAuthn('istio-system', 'default', 'STRICT'), peerAuthn('foo', 'default', 'DISABLE')],
      8080,
      'DISABLE',
    ],
    [
      'DISABLE ignored in ambient mode',
      [peerAuthn('istio-system', 'default', 'STRICT'), peerAuthn('foo', 'default', 'DISABLE')],
      8080,
      'STRICT',
      { ambient: true },
    ],
  ];
  for (const [name, pas, port, want, opts] of table) {
    it(name, () => expect(effectiveMtlsMode(pas, mesh, finance, port, opts)).toBe(want));
  }

  it('is deterministic when two workload policies select the same workload', () => {
    const a = peerAuthn('foo', 'a', 'STRICT', { selector: { app: 'finance' } });
    const b = peerAuthn('foo', 'b', 'PERMISSIVE', { selector: { app: 'finance' } });
    expect(effectiveMtlsMode([a, b], mesh, finance, 1)).toBe(effectiveMtlsMode([b, a], mesh, finance, 1));
  });

  it('uses the configured root namespace', () => {
    const custom = { ...mesh, rootNamespace: 'mesh-root' };
    expect(effectiveMtlsMode([peerAuthn('mesh-root', 'default', 'STRICT')], custom, finance, 1)).toBe('STRICT');
    expect(effectiveMtlsMode([peerAuthn('istio-system', 'default', 'STRICT')], custom, finance, 1)).toBe('PERMISSIVE');
  });
});
