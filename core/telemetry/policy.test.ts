// Telemetry API resolution: Istio's root namespace → namespace → workload precedence, modes,
// and the expression forms Ambit evaluates (and refuses).
import { describe, expect, it } from 'vitest';
import { parseFilterExpression, parseValueExpression } from './expressions.js';
import { filterPasses, resolveTelemetry, type TelemetryPolicy, type TelemetryTarget } from './policy.js';

const ROOT = 'istio-system';
const stdout = [{ provider: 'envoy', path: '/dev/stdout' }];

const meshWide: TelemetryPolicy = {
  key: 'istio-system/mesh-default',
  scope: { namespace: ROOT, level: 'mesh' },
  metrics: [{ metrics: ['REQUEST_COUNT'], mode: 'CLIENT_AND_SERVER', tags: [{ tag: 'a', operation: 'REMOVE' }] }],
  accessLogging: [{ mode: 'CLIENT_AND_SERVER', sinks: stdout }],
  tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 1 }],
};
const shop: TelemetryPolicy = {
  key: 'shop/ns',
  scope: { namespace: 'shop', level: 'namespace' },
  metrics: [{ metrics: [], mode: 'SERVER', tags: [{ tag: 'b', operation: 'REMOVE' }] }],
  tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 20 }],
};
const payments: TelemetryPolicy = {
  key: 'shop/payments',
  scope: { namespace: 'shop', level: 'workload', selector: { app: 'payments' } },
  accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: true, sinks: [] }],
  tracing: [{ mode: 'SERVER', randomSamplingPercentage: 100 }],
};
const gatewayRef: TelemetryPolicy = {
  key: 'shop/waypoint',
  scope: { namespace: 'shop', level: 'workload', targetRefs: [{ kind: 'Gateway', name: 'waypoint' }] },
  tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 75 }],
};
const all = [payments, meshWide, gatewayRef, shop];

const target = (t: Partial<TelemetryTarget>): TelemetryTarget => ({
  namespace: 'shop',
  labels: {},
  mode: 'SERVER',
  ...t,
});

describe('Telemetry precedence', () => {
  it('a workload without its own resource gets the namespace over the root namespace', () => {
    const t = resolveTelemetry(all, ROOT, target({ labels: { app: 'orders' } }));
    expect(t.from).toEqual(['istio-system/mesh-default', 'shop/ns']);
    expect(t.samplingPercentage).toBe(20);
    // Access logging is inherited from the root namespace (the namespace does not set it).
    expect(t.accessLogging?.sinks).toEqual(stdout);
    // Metric overrides accumulate, most general first.
    expect(t.metricOverrides.map((o) => o.tags[0]!.tag)).toEqual(['a', 'b']);
  });

  it('a selected workload overrides both; its modes apply only to its side', () => {
    const server = resolveTelemetry(all, ROOT, target({ labels: { app: 'payments' } }));
    expect(server.from).toEqual(['istio-system/mesh-default', 'shop/ns', 'shop/payments']);
    expect(server.samplingPercentage).toBe(100);
    expect(server.accessLoggingDisabled).toBe(true);
    expect(server.accessLogging).toBeUndefined();
    const client = resolveTelemetry(all, ROOT, target({ labels: { app: 'payments' }, mode: 'CLIENT' }));
    expect(client.samplingPercentage).toBe(20); // the SERVER-only tracing rule does not apply
    expect(client.metricOverrides.map((o) => o.tags[0]!.tag)).toEqual(['a']); // nor the SERVER-only metrics
  });

  it('another namespace gets the root namespace only; targetRefs select a waypoint by its Gateway', () => {
    expect(resolveTelemetry(all, ROOT, target({ namespace: 'other' })).samplingPercentage).toBe(1);
    const wp = resolveTelemetry(all, ROOT, target({ gateway: 'waypoint', labels: {} }));
    expect(wp.samplingPercentage).toBe(75);
    expect(resolveTelemetry(all, ROOT, target({ gateway: 'other' })).samplingPercentage).toBe(20);
  });

  it('no resources: nothing set, the component defaults apply', () => {
    const t = resolveTelemetry(undefined, ROOT, target({}));
    expect(t).toMatchObject({ metricOverrides: [], accessLoggingDisabled: false, from: [] });
    expect(t.samplingPercentage).toBeUndefined();
  });
});

describe('Telemetry expressions', () => {
  it('tag values: literals, attributes, string(), request headers', () => {
    expect(parseValueExpression("'fixed'")).toEqual({ ok: { literal: 'fixed' } });
    expect(parseValueExpression('"fixed"')).toEqual({ ok: { literal: 'fixed' } });
    expect(parseValueExpression('request.host')).toEqual({ ok: { attribute: 'request.host' } });
    expect(parseValueExpression('string(destination.port)')).toEqual({ ok: { attribute: 'destination.port' } });
    expect(parseValueExpression("request.headers['X-User']")).toEqual({ ok: { requestHeader: 'x-user' } });
  });

  it('refuses what it cannot evaluate, saying what it can', () => {
    for (const e of [
      "has(request.headers['x']) ? 'a' : 'b'",
      'upstream_peer.labels["app"].value',
      'xds.cluster_name',
    ]) {
      const r = parseValueExpression(e);
      expect('error' in r && r.error, e).toMatch(/is not supported: Ambit evaluates a quoted literal/);
    }
    expect(parseFilterExpression('response.code >= 400 || request.path == "/x"')).toHaveProperty('error');
  });

  it('filters: response.code comparisons with && and ||', () => {
    const f = parseFilterExpression('response.code >= 400 && response.code != 404 || response.code == 201');
    expect('ok' in f).toBe(true);
    const filter = 'ok' in f ? f.ok : undefined;
    expect([200, 201, 404, 403, 503].filter((c) => filterPasses(filter, c))).toEqual([201, 403, 503]);
    expect(filterPasses(filter, undefined)).toBe(false); // L4: no response code
    expect(filterPasses(undefined, undefined)).toBe(true);
  });
});
