import { describe, expect, it } from 'vitest';
import { canonicalNameOf, isAmbient, isWaypointGateway, meshModeOf, optsOut, useWaypointOf } from './vocabulary.js';
import { hostMatches, hostMatchRank, resolveHost } from './hosts.js';

describe('mesh vocabulary', () => {
  it("reads the mesh mode from Ambit's label first, then Istio's alias", () => {
    expect(meshModeOf({ 'istio.io/dataplane-mode': 'ambient' })).toBe('ambient');
    expect(meshModeOf({ 'mesh-mode': 'none', 'istio.io/dataplane-mode': 'ambient' })).toBe('none');
    expect(isAmbient({ 'mesh-mode': 'ambient' })).toBe(true);
    expect(isAmbient(undefined)).toBe(false);
    expect(optsOut({ 'istio.io/dataplane-mode': 'none' })).toBe(true);
    expect(optsOut({ app: 'x' })).toBe(false);
  });

  it('does not take a label from the prototype chain', () => {
    expect(meshModeOf(Object.create({ 'mesh-mode': 'ambient' }) as Record<string, string>)).toBeUndefined();
  });

  it('reads the waypoint label and the canonical name with their fallbacks', () => {
    expect(useWaypointOf({ 'istio.io/use-waypoint': 'wp' })).toBe('wp');
    expect(useWaypointOf({ 'mesh-waypoint': 'a', 'istio.io/use-waypoint': 'b' })).toBe('a');
    expect(canonicalNameOf({ app: 'x', 'service.istio.io/canonical-name': 'y' })).toBe('y');
    expect(canonicalNameOf({ app: 'x' })).toBe('x');
  });

  it('knows a waypoint Gateway by kind, API group and class', () => {
    const gw = {
      kind: 'Gateway',
      apiVersion: 'gateway.networking.k8s.io/v1',
      spec: { gatewayClassName: 'ambit-waypoint' },
    };
    expect(isWaypointGateway(gw)).toBe(true);
    expect(isWaypointGateway({ ...gw, spec: { gatewayClassName: 'istio' } })).toBe(false);
    expect(isWaypointGateway({ ...gw, apiVersion: 'networking.istio.io/v1' })).toBe(false);
    expect(isWaypointGateway({ ...gw, spec: { gatewayClassName: 'istio-waypoint' } }, ['istio-waypoint'])).toBe(true);
  });
});

describe('mesh hosts', () => {
  it('completes short names and matches wildcards on either side', () => {
    expect(resolveHost('reviews', 'shop')).toBe('reviews.shop.svc.cluster.local');
    expect(resolveHost('example.com.', 'shop')).toBe('example.com');
    expect(hostMatches('*.shop.svc.cluster.local', 'a.shop.svc.cluster.local')).toBe(true);
    expect(hostMatches('a.example.com', '*.example.com')).toBe(true);
    expect(hostMatches('a.example.com', 'b.example.com')).toBe(false);
    expect(hostMatchRank('a.b', 'a.b')).toBeGreaterThan(hostMatchRank('*.b', 'a.b'));
  });
});
