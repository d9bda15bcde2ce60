// Gateway pods of `local up`: one per namespace and mode an Istio Gateway selects, labelled
// for the Gateway's selector, never captured, with the ingress server ports to expose.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../controller/sources/types.js';
import { REPO_ROOT } from '../../test/support/repo.js';
import { gatewayEnv, gatewayPodSources } from './gateways.js';
import { planLocal } from './plan.js';

const gateway = (name: string, ns: string, selector: Record<string, string>, ports: Array<[number, string]>) =>
  ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: ns },
    spec: {
      selector,
      servers: ports.map(([number, protocol]) => ({ port: { number, protocol }, hosts: ['*'] })),
    },
  }) as KubeObject;

describe('local gateway pods', () => {
  it('one pod per namespace and mode, with the selector labels and the first HTTP/HTTPS ports', () => {
    const pods = gatewayPodSources([
      gateway('a', 'shop', { istio: 'ingressgateway' }, [
        [80, 'HTTP'],
        [443, 'HTTPS'],
      ]),
      gateway('b', 'shop', { istio: 'ingressgateway', team: 'web' }, [[8081, 'HTTP']]),
      gateway('c', 'shop', { istio: 'egressgateway' }, [[443, 'TLS']]),
      gateway('d', 'shop', { app: 'custom' }, [[80, 'HTTP']]),
    ]);
    expect(pods.map((p) => [p.name, p.gateway.mode])).toEqual([
      ['istio-ingressgateway', 'ingress-gateway'],
      ['istio-egressgateway', 'egress-gateway'],
    ]);
    const ingress = pods[0]!;
    expect(ingress.labels).toEqual({
      app: 'istio-ingressgateway',
      istio: 'ingressgateway',
      team: 'web',
      'mesh-mode': 'none',
    });
    expect(ingress.gateway).toEqual({ mode: 'ingress-gateway', httpPort: 80, httpsPort: 443 });
    expect(gatewayEnv(ingress).AMBIT_GATEWAY_LABELS).toBe('app=istio-ingressgateway,istio=ingressgateway,team=web');
  });

  it('the coffee-shop plan runs its ingress gateway as a pod the mesh does not capture', async () => {
    const plan = await planLocal(path.join(REPO_ROOT, 'examples', 'coffee-shop'), { podCidr: '10.233.19.0/24' });
    const gw = plan.pods.find((p) => p.gateway)!;
    expect(gw).toMatchObject({
      namespace: 'coffee-shop',
      name: 'istio-ingressgateway',
      enrolled: false,
      identity: 'spiffe://cluster.local/ns/coffee-shop/sa/istio-ingressgateway',
      gateway: { mode: 'ingress-gateway', httpPort: 80 },
    });
  });
});
