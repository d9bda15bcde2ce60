// `ambitctl local` starts the waypoints with the same settings the binary declares: every
// variable it sets is one the waypoint reads, and the waypoint accepts the whole set in
// controller mode with the pinned controller identity.
import { describe, expect, it } from 'vitest';
import type { PlannedPod } from '../../ctl/local/plan.js';
import { waypointEnv } from '../../ctl/local/waypoints.js';
import { envNames } from '../../core/config/settings.js';
import { WAYPOINT_SETTINGS, waypointSettings } from '../../waypoint/config/settings.js';

describe('ambitctl local: waypoint environment', () => {
  const pod = { namespace: 'shop', name: 'waypoint-0', serviceAccount: 'waypoint', ip: '10.44.0.9', identity: 'spiffe://cluster.local/ns/shop/sa/waypoint' } as PlannedPod;
  const env = waypointEnv(pod, {
    rootsFile: '/tmp/x/root-cert.pem', tokenFile: '/tmp/x/token', controllerIdentity: 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller', stateDir: '/tmp/x',
  });

  it('sets only variables the waypoint reads (and the process basics)', () => {
    const known = envNames(WAYPOINT_SETTINGS);
    const unknown = Object.keys(env).filter((k) => !known.has(k) && k !== 'PATH' && k !== 'HOME');
    expect(unknown).toEqual([]);
  });

  it('is a complete controller-mode configuration with the pinned identity', () => {
    const s = waypointSettings(['node', 'main'], env);
    expect(s.source).toBe('controller');
    expect(s.controllerIdentity).toBe('spiffe://cluster.local/ns/ambit-system/sa/ambit-controller');
    expect(s.namespace).toBe('shop');
  });
});
