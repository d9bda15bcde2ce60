// security.istio.io kinds and Sidecar scoping → the model, with scopes and served versions.
import { describe, expect, it } from 'vitest';
import { formatRejection, translate } from './index.js';
import { yamlObjects } from './testdata/load.js';

const NS = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: wp } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: shop }
spec: { gatewayClassName: ambit-waypoint }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { ports: [{ name: http, port: 80 }] }
`;

function run(yaml: string, mesh?: { rootNamespace?: string; trustDomain?: string }) {
  const result = translate(yamlObjects(`${NS}---\n${yaml}`), mesh ? { mesh } : {});
  expect(result.rejected.map(formatRejection)).toEqual([]);
  return result;
}

describe('AuthorizationPolicy', () => {
  it('keeps every source, operation and condition field, in order', () => {
    const { snapshot } = run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: full, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  action: DENY
  rules:
    - from:
        - source:
            principals: [cluster.local/ns/shop/sa/order, "*/ns/admin/sa/*"]
            notPrincipals: ["*"]
            requestPrincipals: ["issuer.example/*"]
            notRequestPrincipals: [bad/user]
            namespaces: [shop]
            notNamespaces: [test]
            ipBlocks: [10.0.0.0/8]
            notIpBlocks: [10.1.0.0/16]
            remoteIpBlocks: [203.0.113.7]
            notRemoteIpBlocks: ["2001:db8::/32"]
      to:
        - operation:
            hosts: [api.shop.svc.cluster.local]
            notHosts: ["*.internal"]
            ports: ["80"]
            notPorts: ["9090"]
            methods: [GET, POST]
            notMethods: [DELETE]
            paths: [/api/*, /healthz]
            notPaths: ["*/admin"]
      when:
        - { key: "request.auth.claims[groups]", values: [admins] }
        - { key: "request.headers[x-tenant]", notValues: [blocked] }
        - { key: source.ip, values: [10.0.0.1] }
    - {}
`);
    expect(snapshot.authorizationPolicies).toEqual([
      {
        key: 'shop/full',
        name: 'full',
        action: 'DENY',
        scope: { namespace: 'shop', level: 'workload', selector: { app: 'api' } },
        rules: [
          {
            from: [
              {
                principals: ['cluster.local/ns/shop/sa/order', '*/ns/admin/sa/*'],
                notPrincipals: ['*'],
                requestPrincipals: ['issuer.example/*'],
                notRequestPrincipals: ['bad/user'],
                namespaces: ['shop'],
                notNamespaces: ['test'],
                ipBlocks: ['10.0.0.0/8'],
                notIpBlocks: ['10.1.0.0/16'],
                remoteIpBlocks: ['203.0.113.7'],
                notRemoteIpBlocks: ['2001:db8::/32'],
              },
            ],
            to: [
              {
                hosts: ['api.shop.svc.cluster.local'],
                notHosts: ['*.internal'],
                ports: ['80'],
                notPorts: ['9090'],
                methods: ['GET', 'POST'],
                notMethods: ['DELETE'],
                paths: ['/api/*', '/healthz'],
                notPaths: ['*/admin'],
              },
            ],
            when: [
              { key: 'request.auth.claims[groups]', values: ['admins'] },
              { key: 'request.headers[x-tenant]', notValues: ['blocked'] },
              { key: 'source.ip', values: ['10.0.0.1'] },
            ],
          },
          {},
        ],
      },
    ]);
  });

  it.each([
    ['root namespace, no selector → mesh', 'istio-system', '', { namespace: 'istio-system', level: 'mesh' }],
    ['a namespace, no selector → namespace', 'shop', '', { namespace: 'shop', level: 'namespace' }],
    [
      'a selector → workload',
      'shop',
      '  selector: { matchLabels: { app: api } }\n',
      { namespace: 'shop', level: 'workload', selector: { app: 'api' } },
    ],
    [
      'root namespace with a selector → workload',
      'istio-system',
      '  selector: { matchLabels: { app: api } }\n',
      { namespace: 'istio-system', level: 'workload', selector: { app: 'api' } },
    ],
  ])('scope: %s', (_name, ns, selector, scope) => {
    const { snapshot } = run(
      `apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: ${ns} }\nspec:\n${selector}  action: ALLOW\n  rules: [{}]\n`,
    );
    expect(snapshot.authorizationPolicies[0]?.scope).toEqual(scope);
  });

  it('targetRefs bind a policy to the waypoint (or a Service) instead of workloads', () => {
    const { snapshot } = run(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: l7, namespace: shop }
spec:
  targetRefs: [{ kind: Gateway, group: gateway.networking.k8s.io, name: wp }]
  rules: [{ to: [{ operation: { methods: [GET] } }] }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: shop }
spec:
  targetRef: { kind: Service, name: api }
  jwtRules: [{ issuer: me }]
`);
    expect(snapshot.authorizationPolicies[0]?.scope).toEqual({
      namespace: 'shop',
      level: 'namespace',
      targetRefs: [{ kind: 'Gateway', name: 'wp' }],
    });
  });

  it('the root namespace is configurable; action defaults to ALLOW; no rules stays no rules; CUSTOM keeps its provider', () => {
    const { snapshot } = run(
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: mesh-root }
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: shop }
spec: { action: CUSTOM, provider: { name: opa }, rules: [{ to: [{ operation: { paths: [/admin/*] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: audit, namespace: shop }
spec: { action: AUDIT, rules: [{ to: [{ operation: { methods: [DELETE] } }] }] }
`,
      { rootNamespace: 'mesh-root' },
    );
    expect(
      snapshot.authorizationPolicies.map((p) => [p.key, p.action, p.scope.level, p.rules.length, p.provider]),
    ).toEqual([
      ['mesh-root/deny-all', 'ALLOW', 'mesh', 0, undefined],
      ['shop/audit', 'AUDIT', 'namespace', 1, undefined],
      ['shop/ext', 'CUSTOM', 'namespace', 1, 'opa'],
    ]);
  });

  it('the waypoint config carries the mesh-level and its own namespace policies, not others', () => {
    const result = run(
      ['istio-system', 'shop', 'elsewhere']
        .map(
          (ns) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p, namespace: ${ns} }
spec: { rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: pa, namespace: ${ns} }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ra, namespace: ${ns} }
spec: { jwtRules: [{ issuer: "https://${ns}.example" }] }
`,
        )
        .join('---\n'),
    );
    const wp = result.waypoints.get('shop');
    expect(wp?.authorizationPolicies.map((p) => p.key)).toEqual(['istio-system/p', 'shop/p']);
    expect(wp?.peerAuthentications.map((p) => p.key)).toEqual(['istio-system/pa', 'shop/pa']);
    expect(wp?.requestAuthentications.map((p) => p.key)).toEqual(['istio-system/ra', 'shop/ra']);
    expect(result.snapshot.authorizationPolicies).toHaveLength(3);
  });
});

describe('PeerAuthentication', () => {
  it('mode per level, UNSET when absent, port-level modes', () => {
    const { snapshot } = run(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: inherit, namespace: shop }
spec: {}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: legacy-port, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  mtls: { mode: PERMISSIVE }
  portLevelMtls: { "8080": { mode: DISABLE }, "9090": { mode: STRICT } }
`);
    expect(snapshot.peerAuthentications).toEqual([
      {
        key: 'istio-system/default',
        name: 'default',
        scope: { namespace: 'istio-system', level: 'mesh' },
        mode: 'STRICT',
      },
      { key: 'shop/inherit', name: 'inherit', scope: { namespace: 'shop', level: 'namespace' }, mode: 'UNSET' },
      {
        key: 'shop/legacy-port',
        name: 'legacy-port',
        scope: { namespace: 'shop', level: 'workload', selector: { app: 'api' } },
        mode: 'PERMISSIVE',
        portLevel: { 8080: 'DISABLE', 9090: 'STRICT' },
      },
    ]);
  });
});

describe('RequestAuthentication', () => {
  it('jwt rules with issuer, JWKS (uri or inline), audiences, locations, forwarding and claim headers', () => {
    const jwks = JSON.stringify({ keys: [{ kty: 'RSA', n: 'abc', e: 'AQAB' }] });
    const result = run(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  jwtRules:
    - issuer: https://auth.example
      jwksUri: https://auth.example/.well-known/jwks.json
      audiences: [coffee]
      fromHeaders: [{ name: x-jwt, prefix: "Bearer " }]
      fromParams: [token]
      forwardOriginalToken: true
      outputPayloadToHeader: x-jwt-payload
      outputClaimToHeaders: [{ header: x-sub, claim: sub }]
    - issuer: local
      jwks: '${jwks}'
`);
    expect(result.waypoints.get('shop')?.requestAuthentications).toEqual([
      {
        key: 'shop/jwt',
        name: 'jwt',
        scope: { namespace: 'shop', level: 'workload', selector: { app: 'api' } },
        jwtRules: [
          {
            issuer: 'https://auth.example',
            jwksUri: 'https://auth.example/.well-known/jwks.json',
            audiences: ['coffee'],
            fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }],
            fromParams: ['token'],
            forwardOriginalToken: true,
            outputPayloadToHeader: 'x-jwt-payload',
            outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
          },
          { issuer: 'local', jwks },
        ],
      },
    ]);
  });
});

describe('Sidecar egress scoping', () => {
  it('records the visible services per namespace or selected workloads, honouring exportTo', () => {
    const { snapshot } = run(`apiVersion: v1
kind: Namespace
metadata: { name: ops }
---
apiVersion: v1
kind: Service
metadata: { name: metrics, namespace: ops }
spec: { ports: [{ port: 9090 }] }
---
apiVersion: v1
kind: Service
metadata: { name: secret, namespace: ops, annotations: { networking.istio.io/exportTo: "." } }
spec: { ports: [{ port: 1 }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: ops }
spec: { hosts: [api.example.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec:
  egress: [{ hosts: ["./*", "ops/*"] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
---
apiVersion: networking.istio.io/v1beta1
kind: Sidecar
metadata: { name: narrow, namespace: shop }
spec:
  workloadSelector: { labels: { app: api } }
  egress: [{ hosts: ["*/api.example.com"] }]
`);
    expect(snapshot.sidecarScopes).toEqual([
      {
        key: 'shop/default',
        scope: { namespace: 'shop', level: 'namespace' },
        egressHosts: ['./*', 'ops/*'],
        visibleServices: [
          'ops/api.example.com',
          'ops/metrics.ops.svc.cluster.local',
          'shop/api.shop.svc.cluster.local',
        ],
        outboundTrafficPolicy: 'REGISTRY_ONLY',
      },
      {
        key: 'shop/narrow',
        scope: { namespace: 'shop', level: 'workload', selector: { app: 'api' } },
        egressHosts: ['*/api.example.com'],
        visibleServices: ['ops/api.example.com'],
      },
    ]);
  });

  it('no Sidecar: no scopes in the snapshot', () => {
    expect(run('').snapshot.sidecarScopes).toBeUndefined();
  });
});

describe('served API versions', () => {
  it.each([
    ['networking.istio.io/v1', 'DestinationRule', true],
    ['networking.istio.io/v1beta1', 'DestinationRule', true],
    ['networking.istio.io/v1alpha3', 'DestinationRule', true],
    ['networking.istio.io/v2', 'DestinationRule', false],
    ['security.istio.io/v1', 'PeerAuthentication', true],
    ['security.istio.io/v1beta1', 'PeerAuthentication', true],
    ['security.istio.io/v1alpha1', 'PeerAuthentication', false],
    ['gateway.networking.k8s.io/v1', 'HTTPRoute', true],
  ])('%s %s served: %s', (apiVersion, kind, served) => {
    const spec =
      kind === 'DestinationRule'
        ? '{ host: api }'
        : kind === 'HTTPRoute'
          ? '{ parentRefs: [{ kind: Service, name: api }] }'
          : '{}';
    const result = translate(
      yamlObjects(
        `${NS}---\napiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: { name: x, namespace: shop }\nspec: ${spec}\n`,
      ),
    );
    expect(result.rejected.length === 0).toBe(served);
  });

  it('ignores kinds the mesh does not read', () => {
    const result = translate(
      yamlObjects(
        `${NS}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm, namespace: shop }\ndata: { a: b }\n`,
      ),
    );
    expect(result.rejected).toEqual([]);
  });
});
