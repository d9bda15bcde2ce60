// Which Gateways a gateway serves, how servers share a port, which server a SNI picks,
// which virtual host a Host picks, httpsRedirect, and which policies apply at the gateway.
import { describe, expect, it } from 'vitest';
import type { GatewayConfig, GatewayServer, VirtualHost } from '../../core/model/l7.js';
import type { AuthorizationPolicy } from '../../core/model/types.js';
import { gatewayPolicies, pipelineConfig, portPlans, selects, serverForSni, virtualHostFor } from './gateway-config.js';
import { hostnameOf } from './listeners.js';
import { httpsRedirectFor } from './redirect.js';

const server = (port: number, protocol: GatewayServer['protocol'], hosts: string[], tls?: GatewayServer['tls']) =>
  ({ port, protocol, hosts, ...(tls ? { tls } : {}) }) as GatewayServer;
const gw = (name: string, selector: Record<string, string>, servers: GatewayServer[]): GatewayConfig => ({
  key: `shop/${name}`,
  namespace: 'shop',
  name,
  selector,
  servers,
  virtualHosts: [],
  clusters: [],
});
const vh = (host: string, port: number): VirtualHost => ({
  name: `${host}:${port}`,
  host,
  port,
  protocol: 'http',
  domains: [host],
  vips: [],
  routes: [],
});
const policy = (name: string, scope: AuthorizationPolicy['scope']): AuthorizationPolicy => ({
  key: `${scope.namespace}/${name}`,
  name,
  scope,
  action: 'DENY',
  rules: [{}],
});
const self = { namespace: 'shop', labels: { istio: 'ingressgateway', app: 'gw' }, trustDomain: 'cluster.local' };

describe('gateway selection and ports', () => {
  it('serves a Gateway whose non-empty selector matches its labels', () => {
    expect(selects(gw('a', { istio: 'ingressgateway' }, []), self.labels)).toBe(true);
    expect(selects(gw('b', { istio: 'egressgateway' }, []), self.labels)).toBe(false);
    expect(selects(gw('c', {}, []), self.labels)).toBe(false);
  });

  it('groups servers by port and drops a server of another kind on a taken port', () => {
    const { plans, problems } = portPlans([
      gw('a', {}, [server(80, 'HTTP', ['a.com']), server(443, 'HTTPS', ['a.com'], { mode: 'SIMPLE' })]),
      gw('b', {}, [server(80, 'HTTP', ['b.com']), server(443, 'TCP', ['*']), server(0, 'HTTP', ['x'])]),
    ]);
    expect(plans.map((p) => [p.port, p.kind, p.servers.length])).toEqual([
      [80, 'http', 2],
      [443, 'tls', 1],
    ]);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/Gateway\/shop\/b: spec.servers\[1\]: port 443 is already served as tls/);
    expect(problems[1]).toMatch(/spec.servers\[2\].port.number: 0 is not a port/);
  });
});

describe('server and virtual host choice', () => {
  const servers = [
    server(443, 'HTTPS', ['*.example.com'], { mode: 'SIMPLE' }),
    server(443, 'HTTPS', ['shop/api.example.com'], { mode: 'MUTUAL' }),
    server(443, 'TLS', ['*'], { mode: 'PASSTHROUGH' }),
  ];
  it('a SNI picks the most specific server; no SNI picks the first', () => {
    expect(serverForSni(servers, 'api.example.com')).toBe(servers[1]);
    expect(serverForSni(servers, 'www.example.com')).toBe(servers[0]);
    expect(serverForSni(servers, 'db.internal')).toBe(servers[2]);
    expect(serverForSni(servers, undefined)).toBe(servers[0]);
    expect(serverForSni(servers.slice(0, 2), 'db.internal')).toBeUndefined();
  });

  it('a Host picks the exact virtual host of the port, else the longest wildcard, else *', () => {
    const vhosts = [vh('*', 80), vh('*.example.com', 80), vh('shop.example.com', 80), vh('shop.example.com', 443)];
    expect(virtualHostFor(vhosts, 80, 'shop.example.com')?.name).toBe('shop.example.com:80');
    expect(virtualHostFor(vhosts, 80, 'x.example.com')?.name).toBe('*.example.com:80');
    expect(virtualHostFor(vhosts, 80, 'localhost')?.name).toBe('*:80');
    expect(virtualHostFor(vhosts, 443, 'x.example.com')).toBeUndefined();
  });

  it('reads the host name of an authority without its port', () => {
    expect(hostnameOf('Shop.Example.com:8080')).toBe('shop.example.com');
    expect(hostnameOf('[::1]:8080')).toBe('[::1]');
    expect(hostnameOf('localhost')).toBe('localhost');
  });

  it('redirects to https only the hosts of a server that asks for it', () => {
    const http = [
      server(80, 'HTTP', ['secure.example.com'], { mode: 'SIMPLE', httpsRedirect: true }),
      server(80, 'HTTP', ['*']),
    ];
    expect(httpsRedirectFor(http, 'secure.example.com', '/a?b=1')).toBe('https://secure.example.com/a?b=1');
    expect(httpsRedirectFor(http, 'other.example.com', '/a')).toBeUndefined();
  });
});

describe('policies at the gateway', () => {
  it('keeps the policies that select the gateway pod or name its Gateway, applied to every request', () => {
    const gateways = [gw('ingress', { istio: 'ingressgateway' }, [])];
    const kept = gatewayPolicies(
      [
        policy('mine', { namespace: 'shop', level: 'workload', selector: { istio: 'ingressgateway' } }),
        policy('other-workload', { namespace: 'shop', level: 'workload', selector: { app: 'web' } }),
        policy('ns-wide', { namespace: 'shop', level: 'namespace' }),
        policy('other-ns', { namespace: 'billing', level: 'namespace' }),
        policy('root', { namespace: 'istio-system', level: 'namespace' }),
        policy('target', { namespace: 'shop', level: 'workload', targetRefs: [{ kind: 'Gateway', name: 'ingress' }] }),
        policy('target-other', { namespace: 'shop', level: 'workload', targetRefs: [{ kind: 'Gateway', name: 'x' }] }),
      ],
      self,
      gateways,
      'istio-system',
    );
    expect(kept.map((p) => p.name)).toEqual(['mine', 'ns-wide', 'root', 'target']);
    expect(kept.every((p) => p.scope.level === 'mesh')).toBe(true);
  });

  it('builds one pipeline config from the selected Gateways, the first of a name winning', () => {
    const a = { ...gw('a', {}, []), virtualHosts: [vh('x.com', 80)] };
    const b = { ...gw('b', {}, []), virtualHosts: [{ ...vh('x.com', 80), routes: [{ source: 'b', matches: [] }] }] };
    const cfg = pipelineConfig([a, b], { mesh: undefined, authorizationPolicies: [], peerAuthentications: [] }, self);
    expect(cfg.virtualHosts).toHaveLength(1);
    expect(cfg.virtualHosts[0]!.routes).toEqual([]);
    expect(cfg.mesh.trustDomain).toBe('cluster.local');
    expect(
      pipelineConfig([a, b], { mesh: undefined, authorizationPolicies: [], peerAuthentications: [] }, self).version,
    ).toBe(cfg.version);
  });
});
