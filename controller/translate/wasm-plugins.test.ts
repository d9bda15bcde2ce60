// WasmPlugin translation: which waypoint loads which plugin (targetRefs to the waypoint Gateway
// or to a Service, namespace-wide, root namespace, selector-only), the defaults, and refusals
// naming the field.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { loadTestdata, yamlObjects } from './testdata/load.js';

const plugin = (ns: string, name: string, spec: string): string => `---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: ${name}, namespace: ${ns} }
spec:
${spec}`;

const URL = '  url: file:///var/lib/ambit/plugins/deny.wasm\n';

describe('WasmPlugin translation', async () => {
  const shop = await loadTestdata('coffee-shop');
  const run = (yaml: string) => {
    const r = translate([...shop, ...yamlObjects(yaml)]);
    return { plugins: r.waypoints.get('coffee-shop')?.wasmPlugins ?? [], rejected: r.rejected.map(formatRejection) };
  };

  it('a plugin with targetRefs to the waypoint, with its fields and the defaults', () => {
    const r = run(
      plugin(
        'coffee-shop',
        'deny',
        URL +
          `  sha256: ${'AB'.repeat(32)}
  phase: AUTHZ
  priority: 10
  pluginConfig: { deny: [/admin] }
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: waypoint }]
`,
      ) + plugin('coffee-shop', 'plain', URL),
    );
    expect(r.rejected).toEqual([]);
    expect(r.plugins).toEqual([
      {
        key: 'coffee-shop/deny',
        url: 'file:///var/lib/ambit/plugins/deny.wasm',
        sha256: 'ab'.repeat(32),
        phase: 'AUTHZ',
        priority: 10,
        pluginConfig: { deny: ['/admin'] },
        failStrategy: 'FAIL_CLOSE',
      },
      {
        key: 'coffee-shop/plain',
        url: 'file:///var/lib/ambit/plugins/deny.wasm',
        phase: 'UNSPECIFIED_PHASE',
        priority: 0,
        failStrategy: 'FAIL_CLOSE',
      },
    ]);
  });

  it('a Service target limits the plugin to that service; selector-only and other namespaces reach no waypoint', () => {
    const r = run(
      plugin('coffee-shop', 'svc', URL + '  targetRefs: [{ kind: Service, group: "", name: order-service }]\n') +
        plugin('coffee-shop', 'sel', URL + '  selector: { matchLabels: { app: order-service } }\n') +
        plugin('elsewhere', 'other', URL) +
        plugin('istio-system', 'mesh-wide', URL + '  failStrategy: FAIL_OPEN\n'),
    );
    expect(r.rejected).toEqual([]);
    expect(r.plugins.map((p) => [p.key, p.services, p.failStrategy])).toEqual([
      ['coffee-shop/svc', ['coffee-shop/order-service.coffee-shop.svc.cluster.local'], 'FAIL_CLOSE'],
      ['istio-system/mesh-wide', undefined, 'FAIL_OPEN'],
    ]);
  });

  it('fields Ambit cannot honour reject the plugin, naming the field', () => {
    const r = run(
      plugin('coffee-shop', 'oci', '  url: oci://ghcr.io/acme/plugin:1\n') +
        plugin('coffee-shop', 'sha', URL + '  sha256: abc\n') +
        plugin('coffee-shop', 'phase', URL + '  phase: LATE\n') +
        plugin('coffee-shop', 'fail', URL + '  failStrategy: FAIL_MAYBE\n') +
        plugin('coffee-shop', 'typo', URL + '  pluginConfg: {}\n') +
        plugin('coffee-shop', 'tcp', URL + '  type: NETWORK\n'),
    );
    expect(r.plugins).toEqual([]);
    expect(r.rejected).toEqual([
      expect.stringMatching(/^WasmPlugin\/coffee-shop\/oci: spec\.url: .*no OCI/),
      expect.stringMatching(/^WasmPlugin\/coffee-shop\/sha: spec\.sha256: must be 64 hexadecimal digits/),
      expect.stringMatching(/^WasmPlugin\/coffee-shop\/phase: spec\.phase: /),
      expect.stringMatching(/^WasmPlugin\/coffee-shop\/fail: spec\.failStrategy: /),
      expect.stringMatching(/^WasmPlugin\/coffee-shop\/typo: spec\.pluginConfg: unknown field/),
      expect.stringMatching(/^WasmPlugin\/coffee-shop\/tcp: spec\.type: NETWORK plugins are not supported/),
    ]);
  });
});
