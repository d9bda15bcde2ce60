import { describe, expect, it } from 'vitest';
import { createLogger, setLogSink } from '../../core/log.js';
import type { KubeObject } from '../sources/types.js';
import { MeshSettingsTracker } from './mesh-settings.js';

const cm = (mesh: string, rv: string): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'istio', namespace: 'ambit-system', resourceVersion: rv },
    data: { mesh },
  }) as KubeObject;

describe("mesh settings from the controller's istio ConfigMap", () => {
  it('applies good settings, keeps the last good on a bad edit with a clear log line, and falls back to defaults when removed', () => {
    const lines: string[] = [];
    setLogSink({
      write: (l: string) => {
        lines.push(l);
        return true;
      },
    });
    try {
      const t = new MeshSettingsTracker(
        { namespace: 'ambit-system', name: 'istio' },
        'cluster.local',
        createLogger('test'),
      );
      expect(t.current([])).toEqual({});
      const good = t.current([
        cm('outboundTrafficPolicy: { mode: REGISTRY_ONLY }\ndefaultConfig: { tracing: { sampling: 5 } }', '1'),
      ]);
      expect(good).toEqual({ outboundTrafficPolicy: 'REGISTRY_ONLY', traceSampling: 5 });
      // another namespace's istio ConfigMap is not ours
      const other = {
        ...cm('outboundTrafficPolicy: { mode: ALLOW_ANY }', '9'),
        metadata: { name: 'istio', namespace: 'x', resourceVersion: '9' },
      } as KubeObject;
      expect(
        t.current([
          other,
          cm('outboundTrafficPolicy: { mode: REGISTRY_ONLY }\ndefaultConfig: { tracing: { sampling: 5 } }', '1'),
        ]),
      ).toEqual(good);
      expect(t.current([cm('outboundTrafficPolicy: { mode: SOMETIMES }', '2')])).toEqual(good);
      expect(lines.join('')).toMatch(
        /mesh settings rejected; the last good settings stay in force.*outboundTrafficPolicy.mode: unknown value/,
      );
      expect(t.current([cm('{ not yaml', '3')])).toEqual(good);
      expect(t.current([])).toEqual({});
    } finally {
      setLogSink(process.stderr);
    }
  });
});
