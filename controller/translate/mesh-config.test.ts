import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';

const configMap = (mesh: string, ns = 'istio-system'): string => `apiVersion: v1
kind: ConfigMap
metadata: { name: istio, namespace: ${ns} }
data:
  mesh: |
${mesh.replace(/^/gm, '    ')}
`;

const POD = `---
apiVersion: v1
kind: Pod
metadata: { name: p, namespace: shop }
spec: { serviceAccountName: sa }
`;

describe('mesh config from the istio ConfigMap', () => {
  it('reads trust domain, root namespace, outbound policy and trace sampling', () => {
    const result = translate(
      yamlObjects(
        configMap(`trustDomain: corp.example
rootNamespace: mesh-root
outboundTrafficPolicy: { mode: REGISTRY_ONLY }
defaultConfig: { tracing: { sampling: 100 } }`) + POD,
      ),
    );
    expect(result.rejected).toEqual([]);
    expect(result.snapshot.mesh).toEqual({
      trustDomain: 'corp.example',
      rootNamespace: 'mesh-root',
      outboundTrafficPolicy: 'REGISTRY_ONLY',
      traceSampling: 100,
    });
    expect(result.snapshot.workloads[0]?.identity).toBe('spiffe://corp.example/ns/shop/sa/sa');
  });

  it('reads ext-authz extension providers for CUSTOM policies, and names a broken one', () => {
    const result = translate(
      yamlObjects(
        configMap(`extensionProviders:
  - name: opa
    envoyExtAuthzHttp: { service: opa.authz.svc.cluster.local, port: 8181, timeout: 250ms, failOpen: true, includeRequestHeadersInCheck: [x-user] }
  - name: otel
    opentelemetry: { service: otel.svc, port: 4317 }`) + POD,
      ),
    );
    expect(result.rejected).toEqual([]);
    expect(result.snapshot.mesh.extensionProviders).toEqual([
      {
        name: 'opa',
        envoyExtAuthzHttp: {
          service: 'opa.authz.svc.cluster.local',
          port: 8181,
          timeoutMs: 250,
          failOpen: true,
          includeRequestHeadersInCheck: ['x-user'],
        },
      },
      {
        name: 'otel',
        unsupported: 'opentelemetry cannot serve as an ext-authz provider in Ambit (only envoyExtAuthzHttp)',
      },
    ]);
    const broken = translate(
      yamlObjects(configMap('extensionProviders: [{ name: opa, envoyExtAuthzHttp: { service: opa } }]')),
    );
    expect(broken.rejected.map(formatRejection).join('\n')).toMatch(
      /data\.mesh\.extensionProviders\[0\]\.envoyExtAuthzHttp: service and port/,
    );
  });

  it('explicit options win over the ConfigMap; a ConfigMap elsewhere is ignored', () => {
    const objects = yamlObjects(
      configMap('trustDomain: corp.example\ndefaultConfig: { tracing: { sampling: 5 } }') + POD,
    );
    expect(translate(objects, { mesh: { trustDomain: 'cli.example' } }).snapshot.mesh).toMatchObject({
      trustDomain: 'cli.example',
      traceSampling: 5,
    });
    expect(translate(yamlObjects(configMap('trustDomain: corp.example', 'shop'))).snapshot.mesh.trustDomain).toBe(
      'cluster.local',
    );
  });

  it('a bad value rejects the ConfigMap and the defaults stay', () => {
    const result = translate(
      yamlObjects(configMap('outboundTrafficPolicy: { mode: SOMETIMES }\ntrustDomain: corp.example')),
    );
    expect(result.rejected.map(formatRejection)).toEqual([
      'ConfigMap/istio-system/istio: data.mesh.outboundTrafficPolicy.mode: unknown value "SOMETIMES" (allowed: ALLOW_ANY, REGISTRY_ONLY)',
    ]);
    expect(result.snapshot.mesh.trustDomain).toBe('cluster.local');
    const broken = translate(yamlObjects(configMap('trustDomain: [unclosed')));
    expect(broken.rejected[0]?.field).toBe('data.mesh');
    expect(broken.rejected[0]?.reason).toMatch(/not valid YAML/);
  });
  it('reads pathNormalization and jwksAllowHttp, and names a bad value', () => {
    const ok = translate(
      yamlObjects(
        configMap('pathNormalization: { normalization: DECODE_AND_MERGE_SLASHES }\njwksAllowHttp: true') + POD,
      ),
    );
    expect(ok.rejected).toEqual([]);
    expect(ok.snapshot.mesh).toMatchObject({ pathNormalization: 'DECODE_AND_MERGE_SLASHES', jwksAllowHttp: true });
    const bad = translate(yamlObjects(configMap('pathNormalization: { normalization: SOMETIMES }') + POD));
    expect(bad.rejected.map(formatRejection).join('\n')).toMatch(
      /data\.mesh\.pathNormalization\.normalization: unknown value "SOMETIMES"/,
    );
    expect(bad.snapshot.mesh.pathNormalization).toBeUndefined();
  });
});
