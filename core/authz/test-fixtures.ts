// Builders shared by the authz tests (not a test file itself).
import type {
  AuthorizationPolicy,
  AuthzRule,
  PeerAuthentication,
  PolicyAction,
  Labels,
  MtlsMode,
} from '../model/types.js';
import type { AuthzRequest } from './request-view.js';

export function policy(
  ns: string,
  name: string,
  action: PolicyAction,
  rules: readonly AuthzRule[],
  opts: { selector?: Labels; provider?: string; rootNamespace?: string } = {},
): AuthorizationPolicy {
  const level = opts.selector ? 'workload' : ns === (opts.rootNamespace ?? 'istio-system') ? 'mesh' : 'namespace';
  return {
    key: `${ns}/${name}`,
    name,
    scope: { namespace: ns, level, ...(opts.selector ? { selector: opts.selector } : {}) },
    action,
    ...(opts.provider ? { provider: opts.provider } : {}),
    rules,
  };
}

export function peerAuthn(
  ns: string,
  name: string,
  mode: MtlsMode,
  opts: { selector?: Labels; portLevel?: Record<number, MtlsMode> } = {},
): PeerAuthentication {
  return {
    key: `${ns}/${name}`,
    name,
    scope: {
      namespace: ns,
      level: opts.selector ? 'workload' : ns === 'istio-system' ? 'mesh' : 'namespace',
      ...(opts.selector ? { selector: opts.selector } : {}),
    },
    mode,
    ...(opts.portLevel ? { portLevel: opts.portLevel } : {}),
  };
}

export const TD = 'cluster.local';
export const spiffe = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

/** A connection from `ns/sa` at `ip` to port `port`. */
export function conn(
  ns: string | undefined,
  sa: string | undefined,
  opts: { ip?: string; port?: number; dstIp?: string; remoteIp?: string } = {},
): AuthzRequest {
  return {
    source: {
      ...(ns && sa ? { principal: spiffe(ns, sa) } : {}),
      ip: opts.ip ?? '10.244.0.5',
      ...(opts.remoteIp ? { remoteIp: opts.remoteIp } : {}),
    },
    destination: { ip: opts.dstIp ?? '10.244.0.9', port: opts.port ?? 8080 },
  };
}

export function http(
  base: AuthzRequest,
  h: {
    method?: string;
    path?: string;
    host?: string;
    headers?: Record<string, string | string[]>;
    requestPrincipal?: string;
    claims?: Record<string, unknown>;
  },
): AuthzRequest {
  return {
    ...base,
    http: {
      method: h.method ?? 'GET',
      path: h.path ?? '/',
      host: h.host ?? 'payment-service.coffee-shop.svc.cluster.local',
      headers: h.headers ?? {},
      ...(h.requestPrincipal ? { requestPrincipal: h.requestPrincipal } : {}),
      ...(h.claims ? { claims: h.claims } : {}),
    },
  };
}
