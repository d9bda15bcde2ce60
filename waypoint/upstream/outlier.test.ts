import { describe, expect, it } from 'vitest';
import { isEjected, newOutlierState, outlierSettings, recordResult, sweep } from './outlier.js';

describe('outlier detection', () => {
  const settings = outlierSettings({
    consecutive5xxErrors: 3,
    intervalMs: 100,
    baseEjectionTimeMs: 1000,
    maxEjectionPercent: 100,
  })!;

  it('ejects after N consecutive 5xx; a success in between resets the count', () => {
    const s = newOutlierState();
    expect(recordResult(s, settings, 500, 0, 0, 2)).toBe(false);
    expect(recordResult(s, settings, 503, 0, 0, 2)).toBe(false);
    expect(recordResult(s, settings, 200, 0, 0, 2)).toBe(false);
    expect(recordResult(s, settings, 500, 0, 0, 2)).toBe(false);
    expect(recordResult(s, settings, 500, 0, 0, 2)).toBe(false);
    expect(recordResult(s, settings, 0, 10, 0, 2)).toBe(true);
    expect(isEjected(s, 1009)).toBe(true);
    expect(isEjected(s, 1010)).toBe(false);
  });

  it('multiplies the ejection time by the number of ejections; healthy sweeps lower it again', () => {
    const s = newOutlierState();
    const fail = (now: number) => {
      for (let i = 0; i < 3; i++) recordResult(s, settings, 500, now, 0, 2);
    };
    fail(0);
    expect(s.ejectedUntil).toBe(1000);
    sweep([s], 1000);
    fail(1001);
    expect(s.ejectedUntil).toBe(1001 + 2000);
    sweep([s], 3001);
    sweep([s], 3101);
    sweep([s], 3201);
    expect(s.ejections).toBe(0);
  });

  it("applies maxEjectionPercent as Envoy counts it, Istio's 10% default included", () => {
    const tenPercent = outlierSettings({ consecutive5xxErrors: 1 })!;
    expect(tenPercent.maxEjectionPercent).toBe(10);
    expect(recordResult(newOutlierState(), tenPercent, 500, 0, 0, 3)).toBe(false);
    expect(recordResult(newOutlierState(), tenPercent, 500, 0, 0, 10)).toBe(true);
    expect(recordResult(newOutlierState(), tenPercent, 500, 0, 1, 10)).toBe(false);
    const half = outlierSettings({ consecutive5xxErrors: 1, maxEjectionPercent: 50 })!;
    expect(recordResult(newOutlierState(), half, 500, 0, 0, 2)).toBe(true);
    expect(recordResult(newOutlierState(), half, 500, 0, 1, 2)).toBe(false);
  });

  it('consecutiveGatewayErrors ignores 500 and counts 502/503/504 and connect failures', () => {
    const gw = outlierSettings({ consecutiveGatewayErrors: 2, consecutive5xxErrors: 0, maxEjectionPercent: 100 })!;
    const s = newOutlierState();
    for (let i = 0; i < 5; i++) expect(recordResult(s, gw, 500, 0, 0, 2)).toBe(false);
    // Without consecutive5xxErrors, its default of 5 still applies.
    const withDefault = outlierSettings({ consecutiveGatewayErrors: 2, maxEjectionPercent: 100 })!;
    const u = newOutlierState();
    for (let i = 0; i < 4; i++) expect(recordResult(u, withDefault, 500, 0, 0, 2)).toBe(false);
    expect(recordResult(u, withDefault, 500, 0, 0, 2)).toBe(true);
    const t = newOutlierState();
    expect(recordResult(t, gw, 502, 0, 0, 2)).toBe(false);
    expect(recordResult(t, gw, 0, 0, 0, 2)).toBe(true);
  });
});
