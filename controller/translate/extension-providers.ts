// MeshConfig `extensionProviders[]` with `envoyExtAuthzHttp`: the ext-authz services that
// CUSTOM AuthorizationPolicies name (`provider.name`). Other provider kinds (envoyExtAuthzGrpc,
// tracing and logging providers) are kept with the reason Ambit cannot call them.
import type { ExtensionProvider } from '../../core/model/types.js';
import type { ExtensionProviderDoc } from '../../core/crds/mesh-config.js';
import { parseDurationMs, type Issues } from './validate/common.js';

/** The provider kind: its one field besides `name` (`envoyExtAuthzHttp`, `zipkin`, …). */
export function providerKind(p: ExtensionProviderDoc): string | undefined {
  return Object.keys(p).find((k) => k !== 'name');
}

/** An integer field that Istio's protobuf JSON also takes as a string ("8181"). */
function integer(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : value.trim() === '' ? NaN : Number(value);
  return Number.isInteger(n) ? n : undefined;
}

export function extensionProvidersFrom(
  providers: readonly ExtensionProviderDoc[],
  issues: Issues,
): ExtensionProvider[] {
  const out: ExtensionProvider[] = [];
  providers.forEach((p, i) => {
    const field = `data.mesh.extensionProviders[${i}]`;
    const { name } = p;
    if (!name) {
      issues.add(`${field}.name`, 'required');
      return;
    }
    const http = p.envoyExtAuthzHttp;
    if (!http) {
      const kind = providerKind(p) ?? 'no provider settings';
      // Refused here, named: a CUSTOM policy on this provider denies what it matches, and says why.
      out.push({
        name,
        unsupported: `${kind} cannot serve as an ext-authz provider in Ambit (only envoyExtAuthzHttp)`,
      });
      return;
    }
    const port = integer(http.port);
    if (!http.service || port === undefined || port < 1 || port > 65535) {
      issues.add(`${field}.envoyExtAuthzHttp`, 'service and port (1..65535) are required');
      return;
    }
    const timeoutMs = http.timeout === undefined ? undefined : parseDurationMs(http.timeout);
    if (http.timeout !== undefined && timeoutMs === undefined)
      issues.add(`${field}.envoyExtAuthzHttp.timeout`, `bad duration ${JSON.stringify(http.timeout)}`);
    const statusOnError = integer(http.statusOnError);
    if (http.statusOnError !== undefined && statusOnError === undefined)
      issues.add(
        `${field}.envoyExtAuthzHttp.statusOnError`,
        `not an HTTP status: ${JSON.stringify(http.statusOnError)}`,
      );
    out.push({
      name,
      envoyExtAuthzHttp: {
        service: http.service,
        port,
        ...(http.pathPrefix ? { pathPrefix: http.pathPrefix } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(http.failOpen !== undefined ? { failOpen: http.failOpen } : {}),
        ...(statusOnError !== undefined ? { statusOnError } : {}),
        ...(http.includeRequestHeadersInCheck
          ? { includeRequestHeadersInCheck: http.includeRequestHeadersInCheck }
          : {}),
        ...(http.includeAdditionalHeadersInCheck
          ? { includeAdditionalHeadersInCheck: http.includeAdditionalHeadersInCheck }
          : {}),
        ...(http.headersToUpstreamOnAllow ? { headersToUpstreamOnAllow: http.headersToUpstreamOnAllow } : {}),
        ...(http.headersToDownstreamOnDeny ? { headersToDownstreamOnDeny: http.headersToDownstreamOnDeny } : {}),
      },
    });
  });
  return out;
}
