import { describe, expect, it } from 'vitest';
import { settingsFromEnv } from './env.js';

describe('agent settings from env', () => {
  it('uses the CONTRACT ports by default and lets every port be overridden', () => {
    const d = settingsFromEnv({ AMBIT_CONFIG_FILE: 'mesh.yaml' });
    expect(d.ports).toEqual({ outbound: 15001, inboundPlaintext: 15006, hbone: 15008, admin: 15000, metrics: 15020, ready: 15021, socks5: 15080 });
    expect(d.localHost).toBe('127.0.0.1');
    expect(d.configFile).toMatch(/mesh\.yaml$/);
    const o = settingsFromEnv({ AMBIT_CONTROLLER: 'ctl:15012', AMBIT_ADMIN_PORT: '25000', AMBIT_HBONE_PORT: '25008', AMBIT_SOCKS5_PORT: '0' });
    expect(o.ports.admin).toBe(25000);
    expect(o.ports.hbone).toBe(25008);
    expect(o.ports.socks5).toBe(0);
    expect(o.controller).toBe('ctl:15012');
  });

  it('refuses a missing config source and bad numbers, naming the variable', () => {
    expect(() => settingsFromEnv({})).toThrow(/AMBIT_CONFIG_FILE or AMBIT_CONTROLLER/);
    expect(() => settingsFromEnv({ AMBIT_CONFIG_FILE: 'x', AMBIT_METRICS_PORT: 'lots' })).toThrow(/AMBIT_METRICS_PORT: not a port number/);
    expect(() => settingsFromEnv({ AMBIT_CONFIG_FILE: 'x', AMBIT_DRAIN_MS: '-1' })).toThrow(/AMBIT_DRAIN_MS/);
  });
});
