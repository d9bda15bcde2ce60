// The bench's configuration is accepted by the real consumers: the agent's snapshot parser
// and MeshState route the two VIPs (L4 and through the waypoint), and the waypoint runtime
// builds a pipeline from the WaypointConfig.
import { describe, expect, it } from 'vitest';
import { snapshotFromDocument } from '../../agent/config/snapshot-file.js';
import { MeshState } from '../../agent/state/mesh-state.js';
import { HbonePool } from '../../core/hbone/index.js';
import { createLogger } from '../../core/log.js';
import { WaypointRuntime } from '../../waypoint/runtime.js';
import { testCa, testCredentials } from '../../test/support/pki.js';
import { HTTP_PORT, MESH_NS, meshSnapshot, VIP_L4, VIP_WAYPOINT, waypointConfig, waypointIdentity } from './config.js';

const ips = { client: '10.231.210.5', server: '10.231.210.6', waypoint: '10.231.210.7' };

describe('bench/waypoint configuration', () => {
  it('routes the L4 VIP to the server over HBONE and the waypoint VIP to the waypoint', () => {
    const state = new MeshState(snapshotFromDocument(meshSnapshot('v1', ips), 'v1'));
    const l4 = state.routeOutbound({ namespace: MESH_NS }, VIP_L4, HTTP_PORT);
    expect(l4.kind).toBe('hbone');
    const wp = state.routeOutbound({ namespace: MESH_NS }, VIP_WAYPOINT, HTTP_PORT);
    expect(wp.kind).toBe('waypoint');
    if (wp.kind !== 'waypoint') return;
    expect(wp.waypoint.address).toBe(ips.waypoint);
    expect(wp.waypoint.identity).toBe(waypointIdentity());
    expect(wp.authority).toBe(`${VIP_WAYPOINT}:${HTTP_PORT}`);
    // The waypoint pod is a known workload that is not captured.
    expect(state.workloadByIp(ips.waypoint)?.enrolled).toBe(false);
  });

  it('before the pods exist, no service has an endpoint or a waypoint', () => {
    const state = new MeshState(snapshotFromDocument(meshSnapshot('v0', {}), 'v0'));
    expect(state.routeOutbound({ namespace: MESH_NS }, VIP_WAYPOINT, HTTP_PORT).kind).toBe('refuse');
  });

  it('the WaypointConfig builds a pipeline in the real waypoint runtime', async () => {
    const ca = await testCa();
    const creds = await testCredentials(ca, MESH_NS, 'waypoint');
    const pool = new HbonePool();
    const runtime = new WaypointRuntime({
      pool,
      credentials: () => creds,
      log: createLogger('bench-test'),
      localIp: ips.waypoint,
    });
    try {
      expect(runtime.apply(waypointConfig('v1', ips.server))).toEqual([]);
      expect(runtime.pipeline()).toBeDefined();
      const dump = runtime.dump();
      expect(dump.clusters[0]?.endpoints).toEqual([expect.objectContaining({ address: ips.server, hbone: true })]);
    } finally {
      runtime.close();
      pool.destroy();
    }
  });
});
