import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_CONFIG, type AuthzRule, type AuthorizationPolicy } from '../model/types.js';
import { AuthzEngine, type AuthzRequest } from './engine.js';
import { conn, http, policy } from './test-fixtures.js';

const mesh = DEFAULT_MESH_CONFIG;
const wl = { namespace: 'shop', labels: { app: 'payment' } };

/** Evaluate a single ALLOW policy with one rule and return whether the request is allowed. */
function allowOne(rule: AuthzRule, req: AuthzRequest, layer: 'l4' | 'l7' = 'l7'): boolean {
  return new AuthzEngine([policy('shop', 'p', 'ALLOW', [rule])], mesh).evaluate(wl, req, layer).allowed;
}

const base = conn('shop', 'order', { ip: '10.244.1.7', port: 8080 });
const get = (h: Parameters<typeof http>[1] = {}) => http(base, h);

describe('AuthzEngine: evaluation order and defaults', () => {
  const cases: Array<{ name: string; policies: AuthorizationPolicy[]; allowed: boolean; policy?: string }> = [
    { name: 'no policy → allow', policies: [], allowed: true },
    {
      name: 'ALLOW without rules matches nothing → deny',
      policies: [policy('shop', 'a', 'ALLOW', [])],
      allowed: false,
    },
    {
      name: 'ALLOW rules:[{}] matches everything',
      policies: [policy('shop', 'a', 'ALLOW', [{}])],
      allowed: true,
      policy: 'shop/a',
    },
    { name: 'DENY without rules matches nothing', policies: [policy('shop', 'd', 'DENY', [])], allowed: true },
    {
      name: 'DENY rules:[{}] denies everything',
      policies: [policy('shop', 'd', 'DENY', [{}])],
      allowed: false,
      policy: 'shop/d',
    },
    {
      name: 'DENY beats a matching ALLOW',
      policies: [
        policy('shop', 'a', 'ALLOW', [{}]),
        policy('shop', 'd', 'DENY', [{ from: [{ namespaces: ['shop'] }] }]),
      ],
      allowed: false,
      policy: 'shop/d',
    },
    {
      name: 'ALLOW present, none matching → deny',
      policies: [policy('shop', 'a', 'ALLOW', [{ from: [{ namespaces: ['other'] }] }])],
      allowed: false,
    },
    {
      name: 'one of several ALLOWs matching → allow',
      policies: [
        policy('shop', 'a', 'ALLOW', [{ from: [{ namespaces: ['other'] }] }]),
        policy('shop', 'b', 'ALLOW', [{ from: [{ namespaces: ['shop'] }] }]),
      ],
      allowed: true,
      policy: 'shop/b',
    },
    { name: 'AUDIT alone never denies', policies: [policy('shop', 'au', 'AUDIT', [{}])], allowed: true },
    {
      name: 'AUDIT does not count as an ALLOW policy',
      policies: [
        policy('shop', 'au', 'AUDIT', [{}]),
        policy('shop', 'a', 'ALLOW', [{ from: [{ namespaces: ['x'] }] }]),
      ],
      allowed: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = new AuthzEngine(c.policies, mesh).evaluate(wl, get(), 'l7');
      expect(d.allowed).toBe(c.allowed);
      expect(d.policy).toBe(c.policy);
      expect(d.reason.length).toBeGreaterThan(0);
    });
  }

  it('records every matching AUDIT policy, whatever the outcome', () => {
    const e = new AuthzEngine(
      [
        policy('shop', 'au1', 'AUDIT', [{ to: [{ methods: ['GET'] }] }]),
        policy('shop', 'au2', 'AUDIT', [{ to: [{ methods: ['POST'] }] }]),
        policy('istio-system', 'au3', 'AUDIT', [{}]),
        policy('shop', 'd', 'DENY', [{ to: [{ paths: ['/admin*'] }] }]),
      ],
      mesh,
    );
    const ok = e.evaluate(wl, get({ path: '/x' }), 'l7');
    expect(ok.allowed).toBe(true);
    expect([...ok.audited].sort()).toEqual(['istio-system/au3', 'shop/au1']);
    const denied = e.evaluate(wl, get({ path: '/admin/users' }), 'l7');
    expect(denied.allowed).toBe(false);
    expect([...denied.audited].sort()).toEqual(['istio-system/au3', 'shop/au1']);
  });

  it('reports matching CUSTOM providers first and still applies DENY/ALLOW', () => {
    const e = new AuthzEngine(
      [
        policy('shop', 'c', 'CUSTOM', [{ to: [{ paths: ['/secure/*'] }] }], { provider: 'ext-authz' }),
        policy('shop', 'a', 'ALLOW', [{ to: [{ methods: ['GET'] }] }]),
      ],
      mesh,
    );
    const d = e.evaluate(wl, get({ path: '/secure/x' }), 'l7');
    expect(d).toMatchObject({ allowed: true, custom: ['ext-authz'] });
    expect(e.evaluate(wl, get({ path: '/open' }), 'l7').custom).toBeUndefined();
    expect(e.evaluate(wl, get({ path: '/secure/x', method: 'PUT' }), 'l7')).toMatchObject({
      allowed: false,
      custom: ['ext-authz'],
    });
    // ztunnel does not support CUSTOM: skipped at L4
    expect(e.evaluate(wl, base, 'l4').custom).toBeUndefined();
  });
});

describe('AuthzEngine: policy selection', () => {
  const e = new AuthzEngine(
    [
      policy('istio-system', 'mesh-deny', 'DENY', [{ from: [{ namespaces: ['evil'] }] }]),
      policy('istio-system', 'mesh-sel', 'DENY', [{ to: [{ ports: ['9999'] }] }], { selector: { tier: 'db' } }),
      policy('shop', 'ns-allow', 'ALLOW', [{ from: [{ namespaces: ['shop'] }] }]),
      policy('shop', 'wl-allow', 'ALLOW', [{ from: [{ namespaces: ['front'] }] }], { selector: { app: 'payment' } }),
      policy('other', 'other-deny', 'DENY', [{}]),
    ],
    mesh,
  );

  it('lists root-namespace, namespace and matching selector policies only', () => {
    expect(e.policiesFor(wl).sort()).toEqual(['istio-system/mesh-deny', 'shop/ns-allow', 'shop/wl-allow']);
    expect(e.policiesFor({ namespace: 'shop', labels: { app: 'orders' } }).sort()).toEqual([
      'istio-system/mesh-deny',
      'shop/ns-allow',
    ]);
    expect(e.policiesFor({ namespace: 'x', labels: { tier: 'db' } }).sort()).toEqual([
      'istio-system/mesh-deny',
      'istio-system/mesh-sel',
    ]);
  });

  it('applies a root-namespace DENY in every namespace', () => {
    expect(e.evaluate({ namespace: 'x', labels: {} }, conn('evil', 'sa'), 'l4').allowed).toBe(false);
    expect(e.evaluate({ namespace: 'x', labels: {} }, conn('good', 'sa'), 'l4').allowed).toBe(true);
  });

  it('ORs namespace and workload ALLOW policies for a selected workload', () => {
    expect(e.evaluate(wl, conn('front', 'web'), 'l4').allowed).toBe(true);
    expect(e.evaluate(wl, conn('shop', 'x'), 'l4').allowed).toBe(true);
    expect(e.evaluate({ namespace: 'shop', labels: { app: 'orders' } }, conn('front', 'web'), 'l4').allowed).toBe(
      false,
    );
  });

  it('does not leak a namespace policy into another namespace', () => {
    expect(e.evaluate({ namespace: 'shop', labels: {} }, conn('shop', 'a'), 'l4').allowed).toBe(true);
    expect(e.evaluate({ namespace: 'other', labels: {} }, conn('shop', 'a'), 'l4').allowed).toBe(false);
  });

  it('honours a custom root namespace', () => {
    const e2 = new AuthzEngine([policy('mesh-root', 'd', 'DENY', [{}], { rootNamespace: 'mesh-root' })], {
      ...mesh,
      rootNamespace: 'mesh-root',
    });
    expect(e2.evaluate({ namespace: 'any', labels: {} }, base, 'l4').allowed).toBe(false);
  });
});

describe('AuthzEngine: source fields', () => {
  const table: Array<[string, AuthzRule, AuthzRequest, boolean]> = [
    ['principals exact (Istio form)', { from: [{ principals: ['cluster.local/ns/shop/sa/order'] }] }, base, true],
    [
      'principals exact (spiffe form)',
      { from: [{ principals: ['spiffe://cluster.local/ns/shop/sa/order'] }] },
      base,
      true,
    ],
    ['principals other', { from: [{ principals: ['cluster.local/ns/shop/sa/admin'] }] }, base, false],
    ['principals prefix', { from: [{ principals: ['cluster.local/ns/shop/*'] }] }, base, true],
    ['principals suffix', { from: [{ principals: ['*/sa/order'] }] }, base, true],
    ['principals presence', { from: [{ principals: ['*'] }] }, base, true],
    ['principals presence, plaintext', { from: [{ principals: ['*'] }] }, conn(undefined, undefined), false],
    ['notPrincipals excludes', { from: [{ notPrincipals: ['*/sa/order'] }] }, base, false],
    ['notPrincipals other', { from: [{ notPrincipals: ['*/sa/admin'] }] }, base, true],
    ['notPrincipals * matches plaintext', { from: [{ notPrincipals: ['*'] }] }, conn(undefined, undefined), true],
    ['namespaces from principal', { from: [{ namespaces: ['shop'] }] }, base, true],
    ['namespaces prefix', { from: [{ namespaces: ['sh*'] }] }, base, true],
    ['namespaces other', { from: [{ namespaces: ['front'] }] }, base, false],
    ['notNamespaces', { from: [{ notNamespaces: ['shop'] }] }, base, false],
    ['ipBlocks CIDR', { from: [{ ipBlocks: ['10.244.0.0/16'] }] }, base, true],
    ['ipBlocks single IP', { from: [{ ipBlocks: ['10.244.1.7'] }] }, base, true],
    ['ipBlocks miss', { from: [{ ipBlocks: ['10.0.0.0/16'] }] }, base, false],
    [
      'ipBlocks IPv4-mapped source',
      { from: [{ ipBlocks: ['10.244.1.0/24'] }] },
      conn('shop', 'order', { ip: '::ffff:10.244.1.7' }),
      true,
    ],
    [
      'ipBlocks IPv6',
      { from: [{ ipBlocks: ['fd00:10:244::/48'] }] },
      conn('shop', 'order', { ip: 'fd00:10:244:1::7' }),
      true,
    ],
    [
      'ipBlocks IPv6 miss',
      { from: [{ ipBlocks: ['fd00:10:245::/48'] }] },
      conn('shop', 'order', { ip: 'fd00:10:244:1::7' }),
      false,
    ],
    ['notIpBlocks', { from: [{ notIpBlocks: ['10.244.1.0/24'] }] }, base, false],
    ['remoteIpBlocks falls back to source ip', { from: [{ remoteIpBlocks: ['10.244.1.7/32'] }] }, get(), true],
    [
      'remoteIpBlocks uses remoteIp',
      { from: [{ remoteIpBlocks: ['203.0.113.0/24'] }] },
      http(conn('shop', 'order', { remoteIp: '203.0.113.9' }), {}),
      true,
    ],
    [
      'notRemoteIpBlocks',
      { from: [{ notRemoteIpBlocks: ['203.0.113.0/24'] }] },
      http(conn('shop', 'order', { remoteIp: '203.0.113.9' }), {}),
      false,
    ],
    [
      'requestPrincipals',
      { from: [{ requestPrincipals: ['https://issuer.example/*'] }] },
      get({ requestPrincipal: 'https://issuer.example/alice' }),
      true,
    ],
    ['requestPrincipals * without JWT', { from: [{ requestPrincipals: ['*'] }] }, get(), false],
    ['notRequestPrincipals * without JWT', { from: [{ notRequestPrincipals: ['*'] }] }, get(), true],
    ['fields inside one source AND', { from: [{ namespaces: ['shop'], ipBlocks: ['192.168.0.0/16'] }] }, base, false],
    ['sources OR', { from: [{ namespaces: ['x'] }, { ipBlocks: ['10.244.0.0/16'] }] }, base, true],
  ];
  for (const [name, rule, req, want] of table) {
    it(name, () => expect(allowOne(rule, req, req.http ? 'l7' : 'l4')).toBe(want));
  }
});

describe('AuthzEngine: operation fields', () => {
  const table: Array<[string, AuthzRule, AuthzRequest, boolean]> = [
    ['ports', { to: [{ ports: ['8080'] }] }, get(), true],
    ['ports miss', { to: [{ ports: ['9090'] }] }, get(), false],
    ['notPorts', { to: [{ notPorts: ['8080'] }] }, get(), false],
    ['methods', { to: [{ methods: ['GET', 'HEAD'] }] }, get(), true],
    ['methods miss', { to: [{ methods: ['DELETE'] }] }, get(), false],
    ['notMethods', { to: [{ notMethods: ['GET'] }] }, get(), false],
    ['paths exact', { to: [{ paths: ['/pay'] }] }, get({ path: '/pay' }), true],
    ['paths exact ignores query', { to: [{ paths: ['/pay'] }] }, get({ path: '/pay?x=1' }), true],
    ['paths exact no prefix', { to: [{ paths: ['/pay'] }] }, get({ path: '/pay/1' }), false],
    ['paths prefix', { to: [{ paths: ['/api/*'] }] }, get({ path: '/api/v1/x' }), true],
    ['paths prefix miss', { to: [{ paths: ['/api/*'] }] }, get({ path: '/apx' }), false],
    ['paths suffix', { to: [{ paths: ['*.png'] }] }, get({ path: '/img/a.png' }), true],
    ['paths presence', { to: [{ paths: ['*'] }] }, get({ path: '/anything' }), true],
    ['paths template {*}', { to: [{ paths: ['/users/{*}/orders'] }] }, get({ path: '/users/42/orders' }), true],
    [
      'paths template {*} one segment only',
      { to: [{ paths: ['/users/{*}/orders'] }] },
      get({ path: '/users/4/2/orders' }),
      false,
    ],
    ['paths template {**}', { to: [{ paths: ['/files/{**}'] }] }, get({ path: '/files/a/b/c.txt' }), true],
    ['notPaths', { to: [{ notPaths: ['/admin/*'] }] }, get({ path: '/admin/x' }), false],
    ['hosts case-insensitive', { to: [{ hosts: ['Payment-Service.coffee-shop.svc.cluster.local'] }] }, get(), true],
    ['hosts wildcard prefix', { to: [{ hosts: ['*.svc.cluster.local'] }] }, get(), true],
    ['hosts wildcard suffix', { to: [{ hosts: ['payment-service.*'] }] }, get(), true],
    [
      'hosts exact does not match with a port',
      { to: [{ hosts: ['payment.example.com'] }] },
      get({ host: 'payment.example.com:8080' }),
      false,
    ],
    [
      'hosts host:* matches any port',
      { to: [{ hosts: ['payment.example.com:*'] }] },
      get({ host: 'payment.example.com:8080' }),
      true,
    ],
    [
      'hosts exact with port',
      { to: [{ hosts: ['payment.example.com:8080'] }] },
      get({ host: 'payment.example.com:8080' }),
      true,
    ],
    ['hosts miss', { to: [{ hosts: ['other.example.com'] }] }, get(), false],
    ['notHosts', { to: [{ notHosts: ['*.cluster.local'] }] }, get(), false],
    ['fields inside one operation AND', { to: [{ methods: ['GET'], paths: ['/x'] }] }, get({ path: '/y' }), false],
    ['operations OR', { to: [{ methods: ['POST'] }, { paths: ['/y'] }] }, get({ path: '/y' }), true],
  ];
  for (const [name, rule, req, want] of table) it(name, () => expect(allowOne(rule, req)).toBe(want));
});

describe('AuthzEngine: when conditions', () => {
  const claims = {
    iss: 'https://issuer.example',
    sub: 'alice',
    aud: ['shop', 'pay'],
    azp: 'web',
    groups: ['admins', 'dev'],
    nested: { team: { name: 'core' } },
    level: 3,
  };
  const req = get({
    headers: { 'x-env': 'prod', 'x-multi': ['a', 'b'] },
    requestPrincipal: 'https://issuer.example/alice',
    claims,
  });
  const table: Array<[string, AuthzRule, boolean]> = [
    ['source.ip', { when: [{ key: 'source.ip', values: ['10.244.1.0/24'] }] }, true],
    ['source.ip notValues', { when: [{ key: 'source.ip', notValues: ['10.244.1.7'] }] }, false],
    ['remote.ip', { when: [{ key: 'remote.ip', values: ['10.244.1.7'] }] }, true],
    ['source.namespace', { when: [{ key: 'source.namespace', values: ['shop'] }] }, true],
    ['source.principal', { when: [{ key: 'source.principal', values: ['cluster.local/ns/shop/sa/order'] }] }, true],
    ['destination.ip', { when: [{ key: 'destination.ip', values: ['10.244.0.0/24'] }] }, true],
    ['destination.port', { when: [{ key: 'destination.port', values: ['8080'] }] }, true],
    ['destination.port notValues', { when: [{ key: 'destination.port', notValues: ['8080'] }] }, false],
    ['request.headers', { when: [{ key: 'request.headers[X-Env]', values: ['prod'] }] }, true],
    ['request.headers prefix', { when: [{ key: 'request.headers[x-env]', values: ['pr*'] }] }, true],
    ['request.headers absent', { when: [{ key: 'request.headers[x-none]', values: ['*'] }] }, false],
    ['request.headers absent notValues', { when: [{ key: 'request.headers[x-none]', notValues: ['*'] }] }, true],
    ['request.headers repeated', { when: [{ key: 'request.headers[x-multi]', values: ['b'] }] }, true],
    [
      'request.auth.principal',
      { when: [{ key: 'request.auth.principal', values: ['https://issuer.example/alice'] }] },
      true,
    ],
    ['request.auth.audiences list', { when: [{ key: 'request.auth.audiences', values: ['pay'] }] }, true],
    ['request.auth.presenter', { when: [{ key: 'request.auth.presenter', values: ['web'] }] }, true],
    [
      'request.auth.claims[iss]',
      { when: [{ key: 'request.auth.claims[iss]', values: ['https://issuer.example'] }] },
      true,
    ],
    ['request.auth.claims list', { when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] }, true],
    ['request.auth.claims list miss', { when: [{ key: 'request.auth.claims[groups]', values: ['ops'] }] }, false],
    [
      'request.auth.claims list notValues',
      { when: [{ key: 'request.auth.claims[groups]', notValues: ['dev'] }] },
      false,
    ],
    [
      'request.auth.claims nested',
      { when: [{ key: 'request.auth.claims[nested][team][name]', values: ['core'] }] },
      true,
    ],
    ['request.auth.claims number', { when: [{ key: 'request.auth.claims[level]', values: ['3'] }] }, true],
    ['request.auth.claims missing', { when: [{ key: 'request.auth.claims[nope]', values: ['*'] }] }, false],
    [
      'values and notValues both',
      { when: [{ key: 'request.headers[x-env]', values: ['p*'], notValues: ['prod'] }] },
      false,
    ],
    [
      'conditions AND',
      {
        when: [
          { key: 'source.namespace', values: ['shop'] },
          { key: 'request.headers[x-env]', values: ['dev'] },
        ],
      },
      false,
    ],
    [
      'from AND to AND when',
      {
        from: [{ namespaces: ['shop'] }],
        to: [{ methods: ['GET'] }],
        when: [{ key: 'request.headers[x-env]', values: ['prod'] }],
      },
      true,
    ],
    [
      'from AND to AND when, one fails',
      {
        from: [{ namespaces: ['shop'] }],
        to: [{ methods: ['POST'] }],
        when: [{ key: 'request.headers[x-env]', values: ['prod'] }],
      },
      false,
    ],
  ];
  for (const [name, rule, want] of table) it(name, () => expect(allowOne(rule, req)).toBe(want));
});

describe('AuthzEngine: L4 (agent) treatment of HTTP attributes', () => {
  // istio.io "Use Layer 4 security policy": ALLOW rules with HTTP attributes are omitted;
  // DENY policies are enforced without their HTTP parts.
  it('an ALLOW rule with methods never matches at L4', () => {
    const rule: AuthzRule = { from: [{ principals: ['cluster.local/ns/shop/sa/order'] }], to: [{ methods: ['GET'] }] };
    expect(allowOne(rule, base, 'l4')).toBe(false);
    expect(allowOne(rule, get(), 'l7')).toBe(true);
  });

  it('an ALLOW policy keeps its L4-only rules at L4', () => {
    const e = new AuthzEngine(
      [policy('shop', 'a', 'ALLOW', [{ to: [{ paths: ['/x'] }] }, { from: [{ namespaces: ['shop'] }] }])],
      mesh,
    );
    expect(e.evaluate(wl, base, 'l4').allowed).toBe(true);
    expect(e.evaluate(wl, conn('other', 'x'), 'l4').allowed).toBe(false);
  });

  it('ALLOW rules with requestPrincipals, remoteIpBlocks, hosts or request.* conditions are omitted at L4', () => {
    const rules: AuthzRule[] = [
      { from: [{ requestPrincipals: ['*'] }] },
      { from: [{ remoteIpBlocks: ['0.0.0.0/0'] }] },
      { to: [{ hosts: ['*'] }] },
      { when: [{ key: 'request.headers[x]', values: ['*'] }] },
      { when: [{ key: 'request.auth.claims[iss]', values: ['*'] }] },
    ];
    for (const r of rules) expect(allowOne(r, base, 'l4')).toBe(false);
  });

  it('a DENY policy with HTTP attributes is enforced at L4 without them (more restrictive)', () => {
    const e = new AuthzEngine(
      [policy('shop', 'd', 'DENY', [{ from: [{ namespaces: ['front'] }], to: [{ methods: ['DELETE'] }] }])],
      mesh,
    );
    expect(e.evaluate(wl, conn('front', 'web'), 'l4')).toMatchObject({ allowed: false, policy: 'shop/d' });
    expect(e.evaluate(wl, conn('shop', 'order'), 'l4').allowed).toBe(true);
    // At L7 only DELETE is denied.
    expect(e.evaluate(wl, http(conn('front', 'web'), { method: 'GET' }), 'l7').allowed).toBe(true);
    expect(e.evaluate(wl, http(conn('front', 'web'), { method: 'DELETE' }), 'l7').allowed).toBe(false);
  });

  it('DENY rules whose only conditions are HTTP attributes deny every connection at L4', () => {
    const rules: AuthzRule[] = [
      { from: [{ requestPrincipals: ['*'] }] },
      { when: [{ key: 'request.headers[x-debug]', values: ['1'] }] },
      { to: [{ paths: ['/admin/*'] }] },
    ];
    for (const r of rules) {
      const e = new AuthzEngine([policy('shop', 'd', 'DENY', [r])], mesh);
      expect(e.evaluate(wl, base, 'l4').allowed).toBe(false);
      expect(e.evaluate(wl, get({ path: '/public' }), 'l7').allowed).toBe(true);
    }
  });

  it('a DENY rule keeps its L4 parts at L4 (ports still narrow it)', () => {
    const e = new AuthzEngine([policy('shop', 'd', 'DENY', [{ to: [{ ports: ['9090'], methods: ['POST'] }] }])], mesh);
    expect(e.evaluate(wl, conn('shop', 'order', { port: 9090 }), 'l4').allowed).toBe(false);
    expect(e.evaluate(wl, conn('shop', 'order', { port: 8080 }), 'l4').allowed).toBe(true);
  });

  it('uses the L4 forms at layer l7 when the traffic is not HTTP', () => {
    const e = new AuthzEngine([policy('shop', 'a', 'ALLOW', [{ to: [{ methods: ['GET'] }] }])], mesh);
    expect(e.evaluate(wl, base, 'l7').allowed).toBe(false);
  });
});

describe('AuthzEngine: invalid values fail closed', () => {
  it('reports the policy and field and never lets a bad ALLOW rule match', () => {
    const e = new AuthzEngine(
      [
        policy('shop', 'a', 'ALLOW', [
          { from: [{ ipBlocks: ['10.0.0.300/8'] }] },
          { when: [{ key: 'bogus.key', values: ['x'] }] },
        ]),
      ],
      mesh,
    );
    expect(e.problems.map((p) => `${p.policy}: ${p.field}`)).toEqual([
      'AuthorizationPolicy/shop/a: rules[0].from[0].source.ipBlocks',
      'AuthorizationPolicy/shop/a: rules[1].when[0].key',
    ]);
    expect(e.evaluate(wl, conn('shop', 'order', { ip: '10.0.0.1' }), 'l4').allowed).toBe(false);
  });

  it('makes a bad DENY part match everything', () => {
    const e = new AuthzEngine([policy('shop', 'd', 'DENY', [{ to: [{ ports: ['http'] }] }])], mesh);
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]!.reason).toMatch(/port/);
    expect(e.evaluate(wl, base, 'l4').allowed).toBe(false);
  });

  it('accepts a well-formed policy without problems', () => {
    const e = new AuthzEngine(
      [
        policy('shop', 'ok', 'ALLOW', [
          {
            from: [{ ipBlocks: ['10.0.0.0/8', '::1'] }],
            to: [{ ports: ['80'] }],
            when: [{ key: 'request.auth.claims[a][b]', values: ['x'] }],
          },
        ]),
      ],
      mesh,
    );
    expect(e.problems).toEqual([]);
  });
});

describe('AuthzEngine: trust domain', () => {
  const td = { ...mesh, trustDomain: 'example.org' };
  const peer = {
    source: { principal: 'spiffe://example.org/ns/shop/sa/order', ip: '10.0.0.1' },
    destination: { ip: '10.0.0.2', port: 80 },
  };
  it('treats cluster.local in policies as the local trust domain', () => {
    const e = new AuthzEngine(
      [policy('shop', 'a', 'ALLOW', [{ from: [{ principals: ['cluster.local/ns/shop/sa/order'] }] }])],
      td,
    );
    expect(e.evaluate(wl, peer, 'l4').allowed).toBe(true);
    const c = new AuthzEngine(
      [
        policy('shop', 'a', 'ALLOW', [
          { when: [{ key: 'source.principal', values: ['cluster.local/ns/shop/sa/order'] }] },
        ]),
      ],
      td,
    );
    expect(c.evaluate(wl, peer, 'l4').allowed).toBe(true);
  });
  it('does not match another explicit trust domain', () => {
    const e = new AuthzEngine(
      [policy('shop', 'a', 'ALLOW', [{ from: [{ principals: ['other.org/ns/shop/sa/order'] }] }])],
      td,
    );
    expect(e.evaluate(wl, peer, 'l4').allowed).toBe(false);
  });
});
