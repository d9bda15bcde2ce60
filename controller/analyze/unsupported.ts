// What Ambit does not apply, named where it appears: kinds (AMB0001), Istio fields Ambit
// ignores (AMB0002), and extension providers it cannot call (AMB0003). `UNSUPPORTED_FIELDS`
// is the list the README gives.
import type { KubeObject } from '../sources/types.js';
import { meshConfigDocOf } from '../translate/mesh-config.js';
import { providerKind } from '../translate/extension-providers.js';
import * as ext from '../../core/crds/extensions.js';
import * as sec from '../../core/crds/security.js';
import { AnalysisContext } from './context.js';
import { MSG } from './messages.js';

/** Kinds Ambit installs CRDs for but does not apply, and why. */
export const UNAPPLIED_KINDS: Readonly<Record<string, string>> = {
  EnvoyFilter:
    "EnvoyFilter patches Envoy's configuration, and Ambit's proxies are not Envoy: it is never applied. " +
    'Write the filter as a WasmPlugin (extensions.istio.io) instead.',
  ProxyConfig: 'ProxyConfig is not applied by Ambit (it tunes Envoy proxies): it is ignored.',
};

/** Istio fields Ambit accepts but ignores, per kind, as path patterns (`[*]`: every element). */
export const UNSUPPORTED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  VirtualService: [
    'spec.http[*].mirrors',
    'spec.http[*].rewrite.uriRegexRewrite',
    'spec.http[*].fault.abort.grpcStatus',
    'spec.http[*].fault.abort.http2Error',
    'spec.http[*].fault.delay.exponentialDelay',
    'spec.http[*].redirect.derivePort',
    'spec.http[*].retries.retryIgnorePreviousHosts',
    'spec.http[*].retries.backoff',
    'spec.http[*].match[*].statPrefix',
  ],
  DestinationRule: [
    'spec.trafficPolicy.tunnel',
    'spec.trafficPolicy.proxyProtocol',
    'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive',
    'spec.trafficPolicy.connectionPool.http.h2UpgradePolicy',
    'spec.trafficPolicy.connectionPool.http.useClientProtocol',
    'spec.trafficPolicy.loadBalancer.consistentHash.ringHash',
    'spec.trafficPolicy.loadBalancer.consistentHash.maglev',
    'spec.trafficPolicy.tls.caCrl',
    'spec.subsets[*].trafficPolicy.tunnel',
    'spec.subsets[*].trafficPolicy.proxyProtocol',
    'spec.subsets[*].trafficPolicy.connectionPool.tcp.tcpKeepalive',
    'spec.subsets[*].trafficPolicy.tls.caCrl',
  ],
  Sidecar: [
    'spec.ingress',
    'spec.inboundConnectionPool',
    'spec.outboundTrafficPolicy.egressProxy',
    'spec.egress[*].port',
    'spec.egress[*].bind',
    'spec.egress[*].captureMode',
  ],
  Gateway: [
    'spec.servers[*].defaultEndpoint',
    'spec.servers[*].bind',
    'spec.servers[*].tls.cipherSuites',
    'spec.servers[*].tls.caCrl',
    'spec.servers[*].tls.credentialNames',
    'spec.servers[*].tls.caCertCredentialName',
    'spec.servers[*].tls.tlsCertificates',
    'spec.servers[*].tls.subjectAltNames',
    'spec.servers[*].tls.verifyCertificateSpki',
    'spec.servers[*].tls.verifyCertificateHash',
    'spec.servers[*].tls.minProtocolVersion',
    'spec.servers[*].tls.maxProtocolVersion',
    'spec.servers[*].tls.insecureSkipVerify',
  ],
  ServiceEntry: ['spec.subjectAltNames', 'spec.endpoints[*].network'],
  WorkloadEntry: ['spec.network'],
  RequestAuthentication: ['spec.jwtRules[*].timeout', 'spec.jwtRules[*].spaceDelimitedClaims'],
  Telemetry: [
    'spec.metrics[*].reportingInterval',
    'spec.tracing[*].customTags',
    'spec.tracing[*].useRequestIdForTraceSampling',
    'spec.tracing[*].enableIstioTags',
    'spec.tracing[*].disableContextPropagation',
  ],
};

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Concrete paths of `pattern` present in `value` (any shape: walked generically). */
export function presentPaths(value: unknown, pattern: string): string[] {
  const parts = pattern.split('.');
  let found: { at: string; v: unknown }[] = [{ at: '', v: value }];
  for (const part of parts) {
    const each = part.endsWith('[*]');
    const key = each ? part.slice(0, -3) : part;
    const next: { at: string; v: unknown }[] = [];
    for (const { at, v } of found) {
      const child = isRecord(v) ? v[key] : undefined;
      if (child === undefined) continue;
      const here = at === '' ? key : `${at}.${key}`;
      if (each && Array.isArray(child)) child.forEach((c, i) => next.push({ at: `${here}[${i}]`, v: c }));
      else if (!each) next.push({ at: here, v: child });
    }
    found = next;
  }
  return found.map((f) => f.at);
}

/**
 * The ignored fields an Istio object sets. Walked on the object as written, not its decoded
 * form: a field is named when present, even with a value decoding rejects (that object's
 * rejection is reported too, and fixing one should not reveal the other).
 */
export function unsupportedFieldsOf(obj: KubeObject): string[] {
  return (UNSUPPORTED_FIELDS[obj.kind] ?? []).flatMap((p) => presentPaths(obj, p));
}

/** Provider name → kind (`envoyExtAuthzHttp`, `envoyExtAuthzGrpc`, …) from the mesh ConfigMap. */
export function extensionProviderKinds(objects: readonly KubeObject[], rootNamespace: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of meshConfigDocOf(objects, rootNamespace)?.extensionProviders ?? [])
    if (p.name) out.set(p.name, providerKind(p) ?? 'none');
  return out;
}

export function analyzeUnsupported(ctx: AnalysisContext): void {
  for (const obj of ctx.objects) {
    if (!obj.metadata?.name) continue;
    const group = (obj.apiVersion ?? '').split('/')[0] ?? '';
    const why = UNAPPLIED_KINDS[obj.kind];
    if (why && group.endsWith('istio.io')) ctx.report(MSG.UnsupportedKind, obj, why);
    if (!group.endsWith('istio.io')) continue;
    for (const field of unsupportedFieldsOf(obj)) {
      ctx.report(MSG.UnsupportedField, obj, `${field} is not supported by Ambit and is ignored`, field);
    }
  }
  for (const plugin of ctx.istio('WasmPlugin', 'extensions.istio.io', ext.wasmPlugin)) {
    const { spec } = plugin;
    if (spec.selector !== undefined && !spec.targetRef && !spec.targetRefs) {
      ctx.report(
        MSG.UnsupportedField,
        plugin,
        'spec.selector picks workloads, which have no proxy in ambient mode: the plugin reaches no waypoint ' +
          '(use targetRefs to the waypoint Gateway or a Service)',
        'spec.selector',
      );
    }
  }
  const providers = extensionProviderKinds(ctx.objects, ctx.opts.rootNamespace);
  for (const ap of ctx.istio('AuthorizationPolicy', 'security.istio.io', sec.authorizationPolicy)) {
    if (ap.spec.action !== 'CUSTOM') continue;
    const name = ap.spec.provider?.name;
    if (!name) continue;
    const kind = providers.get(name);
    if (kind === undefined) {
      ctx.report(
        MSG.ReferencedResourceNotFound,
        ap,
        `Referenced extension provider not found: "${name}" (requests this policy matches are denied)`,
        'spec.provider.name',
      );
    } else if (kind !== 'envoyExtAuthzHttp') {
      ctx.report(
        MSG.UnsupportedExtensionProvider,
        ap,
        `extension provider "${name}" is ${kind}, which Ambit does not support (only envoyExtAuthzHttp): ` +
          'requests this policy matches are denied',
        'spec.provider.name',
      );
    }
  }
}
