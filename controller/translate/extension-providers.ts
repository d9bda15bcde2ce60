// MeshConfig `extensionProviders[]` with `envoyExtAuthzHttp`: the ext-authz services that
// CUSTOM AuthorizationPolicies name (`provider.name`). Other provider kinds (envoyExtAuthzGrpc,
// tracing and logging providers) are kept with the reason Ambit cannot call them.
import type { ExtensionProvider } from '../../core/model/types.js';
import { bool, num, rec, recs, str, stringMap, strs } from './raw.js';
import { parseDurationMs, type Issues } from './validate/common.js';

export function extensionProvidersFrom(value: unknown, issues: Issues): ExtensionProvider[] {
  const out: ExtensionProvider[] = [];
  recs(value).forEach((p, i) => {
    const field = `data.mesh.extensionProviders[${i}]`;
    const name = str(p.name);
    if (!name) {
      issues.add(`${field}.name`, 'required');
      return;
    }
    const http = rec(p.envoyExtAuthzHttp);
    if (!http) {
      const kind = Object.keys(p).find((k) => k !== 'name') ?? 'no provider settings';
      // Refused here, named: a CUSTOM policy on this provider denies what it matches, and says why.
      out.push({
        name,
        unsupported: `${kind} cannot serve as an ext-authz provider in Ambit (only envoyExtAuthzHttp)`,
      });
      return;
    }
    const service = str(http.service);
    const port = num(http.port);
    if (!service || port === undefined || port < 1 || port > 65535) {
      issues.add(`${field}.envoyExtAuthzHttp`, 'service and port (1..65535) are required');
      return;
    }
    const timeout = str(http.timeout);
    const timeoutMs = timeout === undefined ? undefined : parseDurationMs(timeout);
    if (timeout !== undefined && timeoutMs === undefined)
      issues.add(`${field}.envoyExtAuthzHttp.timeout`, `bad duration ${JSON.stringify(timeout)}`);
    const statusOnError = num(http.statusOnError);
    out.push({
      name,
      envoyExtAuthzHttp: {
        service,
        port,
        ...(str(http.pathPrefix) ? { pathPrefix: str(http.pathPrefix)! } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(bool(http.failOpen) !== undefined ? { failOpen: bool(http.failOpen)! } : {}),
        ...(statusOnError !== undefined ? { statusOnError } : {}),
        ...(http.includeRequestHeadersInCheck
          ? { includeRequestHeadersInCheck: strs(http.includeRequestHeadersInCheck) }
          : {}),
        ...(http.includeAdditionalHeadersInCheck
          ? { includeAdditionalHeadersInCheck: stringMap(http.includeAdditionalHeadersInCheck) }
          : {}),
        ...(http.headersToUpstreamOnAllow ? { headersToUpstreamOnAllow: strs(http.headersToUpstreamOnAllow) } : {}),
        ...(http.headersToDownstreamOnDeny ? { headersToDownstreamOnDeny: strs(http.headersToDownstreamOnDeny) } : {}),
      },
    });
  });
  return out;
}
