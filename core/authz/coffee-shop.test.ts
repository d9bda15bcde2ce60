// The coffee-shop example of the docs: only order-service's service account may call
// payment-service; DELETE only from admin-service. Evaluated at L7 (waypoint) and L4 (agent).
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_CONFIG } from '../model/types.js';
import { AuthzEngine } from './engine.js';
import { conn, http, policy } from './test-fixtures.js';

const NS = 'coffee-shop';
const payment = { namespace: NS, labels: { app: 'payment-service', version: 'v1' } };
const orders = { namespace: NS, labels: { app: 'order-service' } };

const engine = new AuthzEngine(
  [
    policy(NS, 'payment-callers', 'ALLOW', [{ from: [{ principals: [`cluster.local/ns/${NS}/sa/order-service`] }] }], {
      selector: { app: 'payment-service' },
    }),
    policy(NS, 'delete-admin-only', 'DENY', [
      { from: [{ notPrincipals: [`cluster.local/ns/${NS}/sa/admin-service`] }], to: [{ methods: ['DELETE'] }] },
    ]),
    policy(
      NS,
      'payment-admin',
      'ALLOW',
      [
        {
          from: [{ principals: [`cluster.local/ns/${NS}/sa/admin-service`] }],
          to: [{ methods: ['DELETE'], paths: ['/payments/*'] }],
        },
      ],
      { selector: { app: 'payment-service' } },
    ),
  ],
  DEFAULT_MESH_CONFIG,
);

describe('coffee-shop authorization', () => {
  const cases: Array<[string, string, string | undefined, boolean]> = [
    ['order-service GET', 'order-service', 'GET', true],
    ['order-service POST', 'order-service', 'POST', true],
    ['order-service DELETE', 'order-service', 'DELETE', false],
    ['admin-service DELETE', 'admin-service', 'DELETE', true],
    ['admin-service GET', 'admin-service', 'GET', false],
    ['frontend GET', 'frontend', 'GET', false],
    ['frontend DELETE', 'frontend', 'DELETE', false],
  ];
  for (const [name, sa, method, allowed] of cases) {
    it(`L7: ${name} → ${allowed ? 'allowed' : 'denied'}`, () => {
      const d = engine.evaluate(payment, http(conn(NS, sa), { method, path: '/payments/42' }), 'l7');
      expect(d.allowed).toBe(allowed);
    });
  }

  it('names the deciding policy', () => {
    expect(engine.evaluate(payment, http(conn(NS, 'frontend'), { method: 'DELETE' }), 'l7').policy).toBe(
      `${NS}/delete-admin-only`,
    );
    expect(engine.evaluate(payment, http(conn(NS, 'order-service'), {}), 'l7').policy).toBe(`${NS}/payment-callers`);
  });

  it('L4: order-service connects, frontend is refused, admin-service is refused by the widened DENY', () => {
    expect(engine.evaluate(payment, conn(NS, 'order-service'), 'l4').allowed).toBe(false);
    expect(engine.evaluate(payment, conn(NS, 'frontend'), 'l4').allowed).toBe(false);
    expect(engine.evaluate(payment, conn(NS, 'admin-service'), 'l4').allowed).toBe(false);
  });

  it('L4 with only the principal policy: order-service allowed, others refused', () => {
    const l4only = new AuthzEngine(
      [
        policy(
          NS,
          'payment-callers',
          'ALLOW',
          [{ from: [{ principals: [`cluster.local/ns/${NS}/sa/order-service`] }] }],
          { selector: { app: 'payment-service' } },
        ),
      ],
      DEFAULT_MESH_CONFIG,
    );
    expect(l4only.evaluate(payment, conn(NS, 'order-service'), 'l4').allowed).toBe(true);
    expect(l4only.evaluate(payment, conn(NS, 'frontend'), 'l4').allowed).toBe(false);
    expect(l4only.evaluate(payment, conn(undefined, undefined), 'l4').allowed).toBe(false);
    // other workloads of the namespace have no ALLOW policy
    expect(l4only.evaluate(orders, conn(NS, 'frontend'), 'l4').allowed).toBe(true);
  });

  it('order-service itself is only subject to the namespace DENY', () => {
    expect(engine.evaluate(orders, http(conn(NS, 'frontend'), { method: 'GET' }), 'l7').allowed).toBe(true);
    expect(engine.evaluate(orders, http(conn(NS, 'frontend'), { method: 'DELETE' }), 'l7').allowed).toBe(false);
  });
});
