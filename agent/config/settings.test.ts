import { describe, expect, it } from 'vitest';
import { settingsFromEnv } from './settings.js';

const CONTROLLER_ENV = {
  AMBIT_CONTROLLER: 'ctl:15012',
  AMBIT_CONTROLLER_ROOTS: '/etc/ambit/roots/root-cert.pem',
  AMBIT_CONTROLLER_IDENTITY: 'spiffe://cluster.local/ns/ambit-system/sa/ambit-controller',
};

describe('agent settings from env', () => {
  it('uses the CONTRACT ports by default and lets every port be overridden', () => {
    const d = settingsFromEnv({ AMBIT_CONFIG_FILE: 'mesh.yaml' });
    expect(d.mode).toBe('file');
    expect(d.ports).toEqual({
      outbound: 15001,
      inboundPlaintext: 15006,
      hbone: 15008,
      dns: 15053,
      admin: 15000,
      metrics: 15020,
      ready: 15021,
      socks5: 0,
    });
    expect(d.localHost).toBe('127.0.0.1');
    expect(d.configFile).toMatch(/mesh\.yaml$/);
    const o = settingsFromEnv({
      ...CONTROLLER_ENV,
      AMBIT_ADMIN_PORT: '25000',
      AMBIT_HBONE_PORT: '25008',
      AMBIT_SOCKS5_PORT: '15080',
      AMBIT_DNS_PORT: '25053',
      AMBIT_DNS_UPSTREAMS: '10.0.0.10,[fd00::10]:5353',
    });
    expect(o.ports.dns).toBe(25053);
    expect(o.dnsUpstreams).toBe('10.0.0.10,[fd00::10]:5353');
    expect(() => settingsFromEnv({ ...CONTROLLER_ENV, AMBIT_DNS_UPSTREAMS: 'dns.example.com' })).toThrow(
      /AMBIT_DNS_UPSTREAMS|expected ip/,
    );
    expect(o.mode).toBe('controller');
    expect(o.ports.admin).toBe(25000);
    expect(o.ports.hbone).toBe(25008);
    expect(o.ports.socks5).toBe(15080);
    expect(o.controller).toBe('ctl:15012');
    expect(o.controllerIdentity).toBe(CONTROLLER_ENV.AMBIT_CONTROLLER_IDENTITY);
  });

  it('refuses a missing config source and bad numbers, naming the variable', () => {
    expect(() => settingsFromEnv({})).toThrow(/controller mode: AMBIT_CONTROLLER is not set/);
    expect(() => settingsFromEnv({ AMBIT_CONFIG_FILE: 'x', AMBIT_METRICS_PORT: 'lots' })).toThrow(
      /AMBIT_METRICS_PORT: not a port number/,
    );
    expect(() => settingsFromEnv({ AMBIT_CONFIG_FILE: 'x', AMBIT_DRAIN_MS: '-1' })).toThrow(/AMBIT_DRAIN_MS/);
  });

  it('controller mode refuses to start without a pinned controller identity or roots', () => {
    const { AMBIT_CONTROLLER_IDENTITY: _id, ...noIdentity } = CONTROLLER_ENV;
    expect(() => settingsFromEnv(noIdentity)).toThrow(/AMBIT_CONTROLLER_IDENTITY is not set/);
    const { AMBIT_CONTROLLER_ROOTS: _r, ...noRoots } = CONTROLLER_ENV;
    expect(() => settingsFromEnv(noRoots)).toThrow(/AMBIT_CONTROLLER_ROOTS is not set/);
    expect(() => settingsFromEnv({ ...CONTROLLER_ENV, AMBIT_CONTROLLER_IDENTITY: 'ambit-controller' })).toThrow(
      /AMBIT_CONTROLLER_IDENTITY: expected spiffe:/,
    );
  });

  it('SOCKS5 is off by default and only ever on loopback', () => {
    expect(settingsFromEnv(CONTROLLER_ENV).ports.socks5).toBe(0);
    expect(() =>
      settingsFromEnv({ ...CONTROLLER_ENV, AMBIT_SOCKS5_PORT: '1080', AMBIT_LOCAL_HOST: '0.0.0.0' }),
    ).toThrow(/only on loopback/);
  });

  it('reads the namespace from POD_NAMESPACE, with AMBIT_NAMESPACE as an alias', () => {
    expect(settingsFromEnv({ AMBIT_CONFIG_FILE: 'x', POD_NAMESPACE: 'a', AMBIT_NAMESPACE: 'b' }).socks5Namespace).toBe(
      'a',
    );
    expect(settingsFromEnv({ AMBIT_CONFIG_FILE: 'x', AMBIT_NAMESPACE: 'b' }).socks5Namespace).toBe('b');
  });
});
