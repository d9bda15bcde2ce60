// The outbound path to ServiceEntry (MESH_EXTERNAL) hosts, per resolution mode, on loopback:
// STATIC endpoints, DNS names the agent resolves, NONE addresses (and CIDR blocks) that pass
// through to the original destination; under REGISTRY_ONLY a declared host is allowed while
// an undeclared address is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, LoopbackMesh, OUTSIDE_IP } from './loopback-mesh.js';
import type { ResolveHost } from './external-dns.js';

const REGISTRY_ONLY = { mesh: { outboundTrafficPolicy: 'REGISTRY_ONLY' } };

function serviceEntry(fields: Record<string, unknown>): Record<string, unknown> {
  return { name: 'outside', namespace: 'shop', hostname: 'api.outside.test', external: true, ...fields };
}

describe('outbound to ServiceEntry hosts', () => {
  let m: LoopbackMesh;
  const resolved: string[] = [];
  beforeAll(async () => {
    m = await LoopbackMesh.start();
    const resolveHost: ResolveHost = (host) => {
      resolved.push(host);
      return host === 'api.outside.test' ? Promise.resolve([OUTSIDE_IP]) : Promise.reject(new Error('NXDOMAIN'));
    };
    (m.ctx as { resolveHost?: ResolveHost }).resolveHost = resolveHost;
  });
  afterAll(async () => {
    m.apply();
    await m.close();
  });

  it('STATIC: the VIP of a declared host reaches its endpoint as plain TCP under REGISTRY_ONLY', async () => {
    m.apply({
      ...REGISTRY_ONLY,
      services: [
        serviceEntry({
          resolution: 'STATIC',
          vips: ['127.0.0.33'],
          ports: [{ port: 80, targetPort: m.outside.port, protocol: 'http' }],
          endpoints: [{ address: OUTSIDE_IP }],
        }),
      ],
    });
    const r = await exchange(await m.connectOutbound('127.0.0.33', 80), 'static');
    expect(r.echoed).toBe('static');
    expect(m.net.dials.at(-1)).toMatchObject({ ip: OUTSIDE_IP, port: m.outside.port });
  });

  it('DNS: the agent resolves the endpoint name and dials the address it got', async () => {
    m.apply({
      ...REGISTRY_ONLY,
      services: [
        serviceEntry({
          resolution: 'DNS',
          vips: ['127.0.0.34'],
          ports: [{ port: 80, targetPort: m.outside.port, protocol: 'http' }],
          endpoints: [{ address: 'api.outside.test' }],
        }),
      ],
    });
    const r = await exchange(await m.connectOutbound('127.0.0.34', 80), 'by name');
    expect(r.echoed).toBe('by name');
    expect(resolved).toContain('api.outside.test');
    expect(m.net.dials.at(-1)).toMatchObject({ ip: OUTSIDE_IP, port: m.outside.port });
  });

  it('DNS: a name that does not resolve fails the connection and is counted', async () => {
    m.apply({
      services: [
        serviceEntry({
          resolution: 'DNS',
          vips: ['127.0.0.35'],
          ports: [{ port: 80, targetPort: m.outside.port, protocol: 'http' }],
          endpoints: [{ address: 'missing.outside.test' }],
        }),
      ],
    });
    const before = m.tracker.refusalCounts()['upstream-failed'] ?? 0;
    const r = await exchange(await m.connectOutbound('127.0.0.35', 80), 'nope');
    expect(r.echoed).toBe('');
    expect(m.tracker.refusalCounts()['upstream-failed']).toBe(before + 1);
  });

  it('NONE: a declared address block passes through to the original destination; other ports are refused', async () => {
    m.apply({
      ...REGISTRY_ONLY,
      services: [
        serviceEntry({
          resolution: 'NONE',
          vips: ['127.0.0.40/29'],
          ports: [{ port: m.outside.port, targetPort: m.outside.port, protocol: 'tcp' }],
          endpoints: [],
        }),
      ],
    });
    const r = await exchange(await m.connectOutbound(OUTSIDE_IP, m.outside.port), 'declared');
    expect(r.echoed).toBe('declared');
    expect(m.net.dials.at(-1)).toMatchObject({ ip: OUTSIDE_IP, port: m.outside.port });
    const before = m.tracker.refusalCounts()['registry-only'] ?? 0;
    const refused = await exchange(await m.connectOutbound(OUTSIDE_IP, m.outside.port + 1), 'undeclared port');
    expect(refused.echoed).toBe('');
    expect(m.tracker.refusalCounts()['registry-only']).toBe(before + 1);
  });

  it('REGISTRY_ONLY refuses an address no ServiceEntry declares; ALLOW_ANY passes it', async () => {
    m.apply(REGISTRY_ONLY);
    const before = m.tracker.refusalCounts()['registry-only'] ?? 0;
    const refused = await exchange(await m.connectOutbound(OUTSIDE_IP, m.outside.port), 'unknown');
    expect(refused.echoed).toBe('');
    expect(m.tracker.refusalCounts()['registry-only']).toBe(before + 1);
    m.apply();
    const allowed = await exchange(await m.connectOutbound(OUTSIDE_IP, m.outside.port), 'allow any');
    expect(allowed.echoed).toBe('allow any');
  });
});
