// CUSTOM authorization: an HTTP check against an ext-authz service, with the semantics of
// Envoy's ext_authz HTTP service as Istio configures it (`envoyExtAuthzHttp`):
// - the check request has the client's method and path (after `pathPrefix`), Host,
//   Content-Length 0 and no body, plus the headers named in includeRequestHeadersInCheck
//   and the fixed includeAdditionalHeadersInCheck;
// - 200 allows; headersToUpstreamOnAllow are copied from the check response to the request
//   sent upstream;
// - any other status denies with that status and body; headersToDownstreamOnDeny go back
//   to the client;
// - a service that cannot be reached or times out denies with statusOnError (403), unless
//   failOpen.
import http from 'node:http';
import type { Logger } from '../../core/log.js';
import { describeError } from '../../core/errors.js';
import type { ExtAuthzHttpProvider, ExtensionProvider } from '../../core/model/types.js';
import type { RequestContext } from './context.js';

export interface ExtAuthzResult {
  readonly allowed: boolean;
  /** Status for the client when denied. */
  readonly status: number;
  readonly body: string;
  readonly headersToUpstream: Readonly<Record<string, string>>;
  readonly headersToDownstream: Readonly<Record<string, string>>;
}

/** Asks the named ext-authz provider about one request. */
export type ExtAuthzCheck = (provider: string, ctx: RequestContext) => Promise<ExtAuthzResult>;

/** Istio's default provider timeout. */
const DEFAULT_TIMEOUT_MS = 600_000;
const MAX_BODY_BYTES = 64 * 1024;

function denied(status: number, body: string, headersToDownstream: Record<string, string> = {}): ExtAuthzResult {
  return { allowed: false, status, body, headersToUpstream: {}, headersToDownstream };
}

function pick(headers: http.IncomingHttpHeaders, names: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names ?? []) {
    const value = headers[name.toLowerCase()];
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

function checkHeaders(p: ExtAuthzHttpProvider, ctx: RequestContext): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of p.includeRequestHeadersInCheck ?? []) {
    const value = ctx.view.headers[name.toLowerCase()];
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  for (const [name, value] of Object.entries(p.includeAdditionalHeadersInCheck ?? {}))
    headers[name.toLowerCase()] = value;
  headers.host = ctx.view.authority;
  headers['content-length'] = '0';
  return headers;
}

/** `ns/host` (Istio allows the namespace prefix) → host. */
function hostOf(service: string): string {
  const slash = service.indexOf('/');
  return slash >= 0 ? service.slice(slash + 1) : service;
}

function check(p: ExtAuthzHttpProvider, ctx: RequestContext, agent: http.Agent): Promise<ExtAuthzResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: hostOf(p.service),
        port: p.port,
        method: ctx.view.method,
        path: `${p.pathPrefix ?? ''}${ctx.view.url}`,
        headers: checkHeaders(p, ctx),
        setHost: false,
        signal: AbortSignal.timeout(p.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY_BYTES) chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 403;
          if (status === 200) {
            resolve({
              allowed: true,
              status,
              body: '',
              headersToUpstream: pick(res.headers, p.headersToUpstreamOnAllow),
              headersToDownstream: {},
            });
          } else {
            resolve(
              denied(status, Buffer.concat(chunks).toString('utf8'), pick(res.headers, p.headersToDownstreamOnDeny)),
            );
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An ExtAuthzCheck over the mesh's `envoyExtAuthzHttp` providers; unknown providers deny. */
export function httpExtAuthz(providers: readonly ExtensionProvider[], log: Logger): ExtAuthzCheck & { close(): void } {
  const byName = new Map(providers.filter((p) => p.envoyExtAuthzHttp).map((p) => [p.name, p.envoyExtAuthzHttp!]));
  const unsupported = new Map(providers.filter((p) => p.unsupported).map((p) => [p.name, p.unsupported!]));
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 16 });
  // Each provider's refusal is logged once per configuration, not per request.
  const warned = new Set<string>();
  const warnOnce = (msg: string, fields: Record<string, unknown>): void => {
    const key = `${msg}|${String(fields.provider)}`;
    if (warned.has(key)) return;
    warned.add(key);
    log.warn(msg, fields);
  };
  const fn = async (provider: string, ctx: RequestContext): Promise<ExtAuthzResult> => {
    const p = byName.get(provider);
    if (!p) {
      const reason = unsupported.get(provider);
      if (reason)
        warnOnce('CUSTOM policy names an ext-authz provider Ambit cannot call; denying what it matches', {
          provider,
          reason,
        });
      else warnOnce('CUSTOM policy names an unknown ext-authz provider; denying what it matches', { provider });
      return denied(403, 'RBAC: access denied');
    }
    try {
      return await check(p, ctx, agent);
    } catch (err) {
      log.warn('ext-authz check failed', { provider, service: p.service, port: p.port, err: describeError(err) });
      if (p.failOpen) return { allowed: true, status: 200, body: '', headersToUpstream: {}, headersToDownstream: {} };
      return denied(p.statusOnError ?? 403, 'denied by external authorization');
    }
  };
  return Object.assign(fn, { close: () => agent.destroy() });
}
