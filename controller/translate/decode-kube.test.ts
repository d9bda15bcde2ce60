// The Kubernetes and Gateway API kinds are decoded once against their (open) schemas: a value
// of the wrong type or a required field missing rejects the object, naming it, the field path
// and file:line; fields Ambit does not read are kept, not reported; and the same object decodes
// to the same value (cached).
import { describe, expect, it } from 'vitest';
import { parseYamlFile } from '../sources/file-parse.js';
import { objectKey, type ObjectOrigin } from '../sources/types.js';
import { formatRejection, translate } from './index.js';
import { buildInventory } from './inventory.js';
import { decodePod } from './decode-kube.js';

function translateYaml(text: string): ReturnType<typeof translate> {
  const { documents, problems } = parseYamlFile(text, 'mesh.yaml');
  expect(problems).toEqual([]);
  const origins = new Map<string, ObjectOrigin>(documents.map((d) => [objectKey(d.object), d.origin] as const));
  return translate(
    documents.map((d) => d.object),
    { origins },
  );
}

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient } }
---
`;

/** One bad object after a valid namespace (line 5 on). */
const CASES: { name: string; yaml: string; rejection: string }[] = [
  {
    name: 'Pod: serviceAccountName of the wrong type',
    yaml: `apiVersion: v1
kind: Pod
metadata: { name: p, namespace: shop }
spec: { serviceAccountName: 7 }`,
    rejection: 'Pod/shop/p: spec.serviceAccountName: must be a string, got number 7 (mesh.yaml:5)',
  },
  {
    name: 'Pod: a container port without containerPort',
    yaml: `apiVersion: v1
kind: Pod
metadata: { name: p, namespace: shop }
spec: { containers: [{ name: c, ports: [{ name: http }] }] }`,
    rejection: 'Pod/shop/p: spec.containers[0].ports[0].containerPort: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'Pod: an owner reference that is not a list',
    yaml: `apiVersion: v1
kind: Pod
metadata: { name: p, namespace: shop, ownerReferences: { kind: ReplicaSet } }`,
    rejection: 'Pod/shop/p: metadata.ownerReferences: must be a list, got object (mesh.yaml:5)',
  },
  {
    name: 'Service: a port without its number',
    yaml: `apiVersion: v1
kind: Service
metadata: { name: s, namespace: shop }
spec: { ports: [{ name: http }] }`,
    rejection: 'Service/shop/s: spec.ports[0].port: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'Service: targetPort neither an integer nor a string',
    yaml: `apiVersion: v1
kind: Service
metadata: { name: s, namespace: shop }
spec: { ports: [{ port: 80, targetPort: 1.5 }] }`,
    rejection: 'Service/shop/s: spec.ports[0].targetPort: must be an integer or a string, got number 1.5 (mesh.yaml:5)',
  },
  {
    name: 'Service: a selector label that is a number',
    yaml: `apiVersion: v1
kind: Service
metadata: { name: s, namespace: shop }
spec: { selector: { version: 1 }, ports: [{ port: 80 }] }`,
    rejection: 'Service/shop/s: spec.selector.version: must be a string, got number 1 (mesh.yaml:5)',
  },
  {
    name: 'Deployment: replicas as a string',
    yaml: `apiVersion: apps/v1
kind: Deployment
metadata: { name: d, namespace: shop }
spec: { replicas: "2" }`,
    rejection: 'Deployment/shop/d: spec.replicas: must be an integer, got string "2" (mesh.yaml:5)',
  },
  {
    name: 'EndpointSlice: an endpoint without addresses',
    yaml: `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s-1, namespace: shop, labels: { kubernetes.io/service-name: s } }
addressType: IPv4
endpoints: [{ conditions: { ready: true } }]`,
    rejection: 'EndpointSlice/shop/s-1: endpoints[0].addresses: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'EndpointSlice: ready not a boolean',
    yaml: `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s-1, namespace: shop }
endpoints: [{ addresses: [10.0.0.1], conditions: { ready: "yes" } }]`,
    rejection:
      'EndpointSlice/shop/s-1: endpoints[0].conditions.ready: must be a boolean, got string "yes" (mesh.yaml:5)',
  },
  {
    name: 'Gateway: no gatewayClassName',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: g, namespace: shop }
spec: { listeners: [{ name: http, port: 80, protocol: HTTP }] }`,
    rejection: 'Gateway/shop/g: spec.gatewayClassName: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'Gateway: a listener port as a string',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: g, namespace: shop }
spec: { gatewayClassName: ambit, listeners: [{ name: http, port: "80", protocol: HTTP }] }`,
    rejection: 'Gateway/shop/g: spec.listeners[0].port: must be an integer, got string "80" (mesh.yaml:5)',
  },
  {
    name: 'Gateway: no spec',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: g, namespace: shop }`,
    rejection: 'Gateway/shop/g: spec: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'HTTPRoute: a parentRef without its name',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec: { parentRefs: [{ kind: Service }] }`,
    rejection: 'HTTPRoute/shop/r: spec.parentRefs[0].name: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'HTTPRoute: a path match type the Gateway API does not define',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules: [{ matches: [{ path: { type: Prefix, value: / } }] }]`,
    rejection:
      'HTTPRoute/shop/r: spec.rules[0].matches[0].path.type: unknown value "Prefix" ' +
      '(allowed: Exact, PathPrefix, RegularExpression) (mesh.yaml:5)',
  },
  {
    name: 'HTTPRoute: a header match without its value',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules: [{ matches: [{ headers: [{ name: x-user }] }] }]`,
    rejection: 'HTTPRoute/shop/r: spec.rules[0].matches[0].headers[0].value: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'HTTPRoute: a backend weight as a string',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules: [{ backendRefs: [{ name: s, weight: "10" }] }]`,
    rejection:
      'HTTPRoute/shop/r: spec.rules[0].backendRefs[0].weight: must be an integer, got string "10" (mesh.yaml:5)',
  },
  {
    name: 'GRPCRoute: a method match type the Gateway API does not define',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules: [{ matches: [{ method: { type: Prefix, service: a.B } }] }]`,
    rejection:
      'GRPCRoute/shop/r: spec.rules[0].matches[0].method.type: unknown value "Prefix" ' +
      '(allowed: Exact, RegularExpression) (mesh.yaml:5)',
  },
  {
    name: 'GRPCRoute: a filter without its type',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules: [{ filters: [{ requestHeaderModifier: { remove: [x] } }] }]`,
    rejection: 'GRPCRoute/shop/r: spec.rules[0].filters[0].type: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'ReferenceGrant: a from entry without its namespace',
    yaml: `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g, namespace: shop }
spec: { from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute }], to: [{ group: "", kind: Service }] }`,
    rejection: 'ReferenceGrant/shop/g: spec.from[0].namespace: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'ReferenceGrant: a to entry without its group (core is "")',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: { name: g, namespace: shop }
spec: { from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web }], to: [{ kind: Service }] }`,
    rejection: 'ReferenceGrant/shop/g: spec.to[0].group: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'Gateway: a listener without its protocol',
    yaml: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: g, namespace: shop }
spec: { gatewayClassName: ambit, listeners: [{ name: http, port: 80 }] }`,
    rejection: 'Gateway/shop/g: spec.listeners[0].protocol: required field is missing (mesh.yaml:5)',
  },
  {
    name: 'ReferenceGrant: to not a list',
    yaml: `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g, namespace: shop }
spec: { to: { kind: Service } }`,
    rejection: 'ReferenceGrant/shop/g: spec.to: must be a list, got object (mesh.yaml:5)',
  },
];

describe('Kubernetes and Gateway API kinds: decoded against their schemas', () => {
  it.each(CASES)('$name', ({ yaml, rejection }) => {
    const result = translateYaml(NAMESPACE + yaml);
    expect(result.rejected.map(formatRejection)).toEqual([rejection]);
  });

  it('a rejected pod is left out and the rest still translates', () => {
    const result = translateYaml(`${NAMESPACE}apiVersion: v1
kind: Pod
metadata: { name: bad, namespace: shop }
spec: { nodeName: [n1] }
---
apiVersion: v1
kind: Pod
metadata: { name: good, namespace: shop }
status: { podIP: 10.1.0.2 }`);
    expect(result.rejected.map(formatRejection)).toEqual([
      'Pod/shop/bad: spec.nodeName: must be a string, got array (mesh.yaml:5)',
    ]);
    expect(result.snapshot.workloads.map((w) => w.name)).toEqual(['good']);
  });

  it('keeps the fields it does not read (open objects), at every level', () => {
    const objects = parseYamlFile(
      `apiVersion: v1
kind: Pod
metadata: { name: p, namespace: shop, finalizers: [x] }
spec:
  nodeName: n1
  restartPolicy: Always
  containers: [{ name: c, image: nginx, ports: [{ name: http, containerPort: 80, hostPort: 8080 }] }]
status: { podIP: 10.1.0.2, qosClass: BestEffort }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: shop }
spec:
  parentRefs: [{ kind: Service, name: s }]
  rules: [{ sessionPersistence: { type: Cookie }, backendRefs: [{ name: s, filters: [] }] }]`,
      'mesh.yaml',
    ).documents.map((d) => d.object);
    const { inventory, rejected } = buildInventory(objects);
    expect(rejected).toEqual([]);
    expect(inventory.pods[0]).toMatchObject({
      metadata: { finalizers: ['x'] },
      spec: {
        restartPolicy: 'Always',
        containers: [{ image: 'nginx', ports: [{ containerPort: 80, hostPort: 8080 }] }],
      },
      status: { qosClass: 'BestEffort' },
    });
    expect(inventory.httpRoutes[0]!.spec.rules?.[0]).toEqual({
      sessionPersistence: { type: 'Cookie' },
      backendRefs: [{ name: 's', filters: [] }],
    });
  });

  it('copies only what decoding changes: a clean pod is its own value, a null is dropped from a copy', () => {
    const [clean, withNull] = parseYamlFile(
      `apiVersion: v1
kind: Pod
metadata: { name: a, namespace: shop }
spec: { nodeName: n1, containers: [{ name: c, ports: [{ containerPort: 80 }] }] }
---
apiVersion: v1
kind: Pod
metadata: { name: b, namespace: shop }
spec: { nodeName: null, containers: [{ name: c, ports: [{ containerPort: 80 }] }] }`,
      'mesh.yaml',
    ).documents.map((d) => d.object);
    expect(decodePod(clean!).value).toBe(clean);
    const b = decodePod(withNull!).value;
    expect(b).not.toBe(withNull);
    expect(b.spec).toEqual({ containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] });
    expect(b.spec?.containers).toBe((withNull!.spec as { containers: unknown }).containers);
    expect(withNull!.spec).toHaveProperty('nodeName', null);
  });

  it('decodes an object once: the same value for the inventory and the incremental pod path', () => {
    const [pod] = parseYamlFile(
      'apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: shop }\nspec: { nodeName: n1 }\n',
      'mesh.yaml',
    ).documents.map((d) => d.object);
    const { inventory } = buildInventory([pod!]);
    expect(decodePod(pod!).value).toBe(inventory.pods[0]);
    expect(decodePod(pod!).value.spec?.nodeName).toBe('n1');
  });
});
