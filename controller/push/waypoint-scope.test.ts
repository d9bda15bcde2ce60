// What a waypoint (or a gateway, which also asks for policies) of one namespace is sent: its
// namespace's WaypointConfig and GatewayConfigs, the policies of its namespace and of the root
// namespace; never another namespace's routes or policies.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_CONFIG, type PeerAuthentication } from '../../core/model/types.js';
import type { GatewayConfig, WaypointConfig } from '../../core/model/l7.js';
import type { NodeInfo } from '../../core/xds/proto.js';
import {
  TYPE_AUTHORIZATION_POLICY,
  TYPE_GATEWAY_CONFIG,
  TYPE_PEER_AUTHENTICATION,
  TYPE_WAYPOINT_CONFIG,
} from '../../core/xds/resources.js';
import { denyPolicy, snapshot, workload } from '../../test/support/mesh-fixtures.js';
import { buildResourceSet } from './resources.js';
import { ScopeIndex } from './scope.js';

const waypointConfig = (ns: string): WaypointConfig => ({
  namespace: ns,
  waypoint: 'waypoint',
  version: `v-${ns}`,
  mesh: DEFAULT_MESH_CONFIG,
  virtualHosts: [],
  clusters: [],
  authorizationPolicies: [],
  requestAuthentications: [],
  peerAuthentications: [],
});

const gateway = (ns: string, name: string): GatewayConfig =>
  ({ key: `${ns}/${name}`, namespace: ns, name, servers: [] }) as unknown as GatewayConfig;

const strict = (ns: string): PeerAuthentication => ({
  key: `${ns}/default`,
  name: 'default',
  scope: { namespace: ns, level: 'namespace' },
  mode: 'STRICT',
});

const waypointOf = (namespace: string): NodeInfo => ({
  name: `${namespace}-waypoint`,
  role: 'waypoint',
  namespace,
  metadata: {},
});

describe('waypoint scope', () => {
  const set = buildResourceSet({
    snapshot: snapshot({
      workloads: [workload('web', 'shop'), workload('db', 'other', 'node-b')],
      authorizationPolicies: [
        denyPolicy('deny-shop', 'shop'),
        denyPolicy('deny-other', 'other'),
        denyPolicy('mesh-wide', 'istio-system'),
      ],
      peerAuthentications: [strict('shop'), strict('other'), strict('istio-system')],
    }),
    waypoints: new Map([
      ['shop', waypointConfig('shop')],
      ['other', waypointConfig('other')],
    ]),
    gateways: new Map([
      ['shop/ingress', gateway('shop', 'ingress')],
      ['other/ingress', gateway('other', 'ingress')],
    ]),
  });

  function selected(ns: string, type: string): string[] {
    const scope = new ScopeIndex(set).scopeFor(waypointOf(ns));
    return [...(set.get(type) ?? new Map())]
      .filter(([n, r]) => scope.includes(type, n, r))
      .map(([n]) => n)
      .sort();
  }

  it("gets only its namespace's routes (WaypointConfig) and gateways", () => {
    expect(selected('shop', TYPE_WAYPOINT_CONFIG)).toEqual(['shop']);
    expect(selected('shop', TYPE_GATEWAY_CONFIG)).toEqual(['shop/ingress']);
    expect(selected('other', TYPE_WAYPOINT_CONFIG)).toEqual(['other']);
  });

  it('gets only the policies of its namespace and of the root namespace', () => {
    expect(selected('shop', TYPE_AUTHORIZATION_POLICY)).toEqual(['istio-system/mesh-wide', 'shop/deny-shop']);
    expect(selected('shop', TYPE_PEER_AUTHENTICATION)).toEqual(['istio-system/default', 'shop/default']);
    expect(selected('other', TYPE_AUTHORIZATION_POLICY)).toEqual(['istio-system/mesh-wide', 'other/deny-other']);
  });

  it('scope keys differ per namespace (a client never shares another namespace’s comparison)', () => {
    const index = new ScopeIndex(set);
    expect(index.scopeFor(waypointOf('shop')).key).not.toBe(index.scopeFor(waypointOf('other')).key);
  });
});
