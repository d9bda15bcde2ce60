import { describe, expect, it } from 'vitest';
import { parseSnapshotText } from '../config/snapshot-file.js';
import { MeshState, type LocalWorkload } from './mesh-state.js';

const BASE = {
  workloads: [
    { name: 'web-1', namespace: 'shop', serviceAccount: 'web', ips: ['10.0.0.1'], enrolled: true },
    { name: 'web-2', namespace: 'shop', serviceAccount: 'web', ips: ['10.0.0.2'], enrolled: true },
    { name: 'web-3', namespace: 'shop', serviceAccount: 'web', ips: ['10.0.0.3'], enrolled: true, healthy: false },
    { name: 'legacy', namespace: 'old', ips: ['10.0.0.9'], enrolled: false },
  ],
  services: [
    {
      name: 'web',
      namespace: 'shop',
      vips: ['10.96.0.1'],
      ports: [{ port: 80, targetPort: 8080 }],
      endpoints: [{ address: '10.0.0.1' }, { address: '10.0.0.2' }, { address: '10.0.0.3' }],
    },
    {
      name: 'old',
      namespace: 'old',
      vips: ['10.96.0.2'],
      ports: [{ port: 80, targetPort: 9090 }],
      endpoints: [{ address: '10.0.0.9' }],
    },
    { name: 'empty', namespace: 'shop', vips: ['10.96.0.3'], ports: [{ port: 80 }], endpoints: [] },
    {
      name: 'wp',
      namespace: 'shop',
      vips: ['10.96.0.4'],
      ports: [{ port: 80 }],
      endpoints: [{ address: '10.0.0.1' }],
      waypoint: {
        name: 'w',
        namespace: 'shop',
        address: '10.0.0.50',
        identity: 'spiffe://cluster.local/ns/shop/sa/waypoint',
      },
    },
  ],
};

function state(extra: Record<string, unknown> = {}, local?: (ip: string) => LocalWorkload | undefined): MeshState {
  return new MeshState(parseSnapshotText(JSON.stringify({ ...BASE, ...extra }), 'v', 'test'), local, 15008);
}

const SRC = { namespace: 'shop' };

describe('MeshState outbound routing', () => {
  it('sends a Service VIP round robin to healthy enrolled endpoints over HBONE with the endpoint authority', () => {
    const s = state();
    const picks = [0, 1, 2, 3].map(() => s.routeOutbound(SRC, '10.96.0.1', 80));
    for (const d of picks) {
      expect(d.kind).toBe('hbone');
      if (d.kind !== 'hbone') continue;
      expect(d.port).toBe(15008);
      expect(d.identity).toBe('spiffe://cluster.local/ns/shop/sa/web');
      expect(d.service?.name).toBe('web');
    }
    expect(picks.map((d) => (d.kind === 'hbone' ? d.authority : ''))).toEqual([
      '10.0.0.1:8080',
      '10.0.0.2:8080',
      '10.0.0.1:8080',
      '10.0.0.2:8080',
    ]);
  });

  it('passes through to a non-enrolled endpoint or workload, and refuses a service without endpoints', () => {
    const s = state();
    expect(s.routeOutbound(SRC, '10.96.0.2', 80)).toMatchObject({
      kind: 'passthrough',
      address: '10.0.0.9',
      port: 9090,
    });
    expect(s.routeOutbound(SRC, '10.0.0.9', 22)).toMatchObject({ kind: 'passthrough', address: '10.0.0.9', port: 22 });
    expect(s.routeOutbound(SRC, '10.96.0.3', 80)).toMatchObject({ kind: 'refuse' });
  });

  it('dials an enrolled pod IP over HBONE and a waypoint for a service that has one', () => {
    const s = state();
    expect(s.routeOutbound(SRC, '10.0.0.2', 8080)).toMatchObject({
      kind: 'hbone',
      address: '10.0.0.2',
      authority: '10.0.0.2:8080',
    });
    expect(s.routeOutbound(SRC, '10.96.0.4', 80)).toMatchObject({ kind: 'waypoint', authority: '10.96.0.4:80' });
  });

  it('unknown destinations: passthrough under ALLOW_ANY, refused under REGISTRY_ONLY', () => {
    expect(state().routeOutbound(SRC, '192.0.2.1', 443)).toMatchObject({
      kind: 'passthrough',
      address: '192.0.2.1',
      port: 443,
    });
    const strict = state({ mesh: { outboundTrafficPolicy: 'REGISTRY_ONLY' } });
    expect(strict.routeOutbound(SRC, '192.0.2.1', 443)).toMatchObject({ kind: 'refuse' });
    expect(strict.routeOutbound(SRC, '10.96.0.1', 80).kind).toBe('hbone');
  });

  it('treats a pod enrolled on this node as meshed even before the snapshot knows its IP', () => {
    const local: LocalWorkload = {
      namespace: 'shop',
      name: 'new',
      identity: 'spiffe://cluster.local/ns/shop/sa/new',
      ips: ['10.0.0.7'],
      labels: {},
      serviceAccount: 'new',
    };
    const s = state({}, (ip) => (ip === '10.0.0.7' ? local : undefined));
    expect(s.routeOutbound(SRC, '10.0.0.7', 80)).toMatchObject({ kind: 'hbone', identity: local.identity });
    expect(s.workloadByIp('10.0.0.7')?.enrolled).toBe(true);
  });

  it('PeerAuthentication: namespace STRICT with a workload port-level PERMISSIVE override', () => {
    const s = state({
      peerAuthentications: [
        { name: 'ns', scope: { namespace: 'shop', level: 'namespace' }, mode: 'STRICT' },
        {
          name: 'web',
          scope: { namespace: 'shop', level: 'workload', selector: { app: 'web' } },
          mode: 'UNSET',
          portLevel: { 9000: 'PERMISSIVE' },
        },
      ],
    });
    expect(s.mtlsMode({ namespace: 'shop', labels: { app: 'web' } }, 8080)).toBe('STRICT');
    expect(s.mtlsMode({ namespace: 'shop', labels: { app: 'web' } }, 9000)).toBe('PERMISSIVE');
    expect(s.mtlsMode({ namespace: 'other', labels: {} }, 8080)).toBe('PERMISSIVE');
  });
});
