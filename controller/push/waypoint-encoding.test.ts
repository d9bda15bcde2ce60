// A waypoint config's encoding: the body is exactly JSON.stringify of the config (the items'
// JSON is kept per object and joined), and the version moves with any change of content,
// a rebuilt cluster, a field outside the lists, and only then.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import type { WaypointConfig } from '../../core/model/l7.js';
import { TYPE_WAYPOINT_CONFIG } from '../../core/xds/resources.js';
import { snapshot } from '../../test/support/mesh-fixtures.js';
import { buildResourceSet } from './resources.js';

const cluster = (host: string, endpoints: string[]) => ({ name: `outbound|80||${host}`, host, port: 80, endpoints });

function config(clusters: object[], extra: Partial<WaypointConfig> = {}): WaypointConfig {
  return {
    namespace: 'shop',
    waypoint: 'waypoint',
    version: 'v',
    mesh: DEFAULT_MESH_CONFIG,
    virtualHosts: [],
    clusters: clusters as unknown as WaypointConfig['clusters'],
    authorizationPolicies: [],
    requestAuthentications: [],
    peerAuthentications: [],
    ...extra,
  };
}

const encoded = (cfg: WaypointConfig) =>
  buildResourceSet({ snapshot: snapshot(), waypoints: new Map([['shop', cfg]]) })
    .get(TYPE_WAYPOINT_CONFIG)!
    .get('shop')!;

describe('waypoint config encoding', () => {
  it('the body is the JSON of the config; the version follows the content only', () => {
    const a = cluster('a.shop', ['10.0.0.1']);
    const b = cluster('b.shop', ['10.0.0.2']);
    const first = config([a, b]);
    const e1 = encoded(first);
    expect(e1.body).toBe(JSON.stringify(first));
    // Same content in new objects: same version.
    expect(encoded(config([{ ...a }, { ...b }])).version).toBe(e1.version);
    // One cluster rebuilt with another endpoint (the others kept): new version, exact body.
    const next = config([a, cluster('b.shop', ['10.0.0.2', '10.0.0.3'])]);
    const e2 = encoded(next);
    expect(e2.body).toBe(JSON.stringify(next));
    expect(e2.version).not.toBe(e1.version);
    // A field outside the lists changes the version too; so does the order of the items.
    expect(encoded(config([a, b], { waypoint: 'other' })).version).not.toBe(e1.version);
    expect(encoded(config([b, a])).version).not.toBe(e1.version);
  });
});
