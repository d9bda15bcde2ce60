// A canary split of one Service, as a mesh generator writes it: a DestinationRule with subsets
// v1 and v2 (by the version label) and a VirtualService sending 90% to v1 and 10% to v2.
import type { KubeObject } from '../../controller/sources/types.js';

export function canarySplit(namespace: string, service: string): KubeObject[] {
  return [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: service, namespace },
      spec: {
        host: service,
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: service, namespace },
      spec: {
        hosts: [service],
        http: [
          {
            route: [
              { destination: { host: service, subset: 'v1' }, weight: 90 },
              { destination: { host: service, subset: 'v2' }, weight: 10 },
            ],
          },
        ],
      },
    },
  ];
}
