// Mesh-wide settings from Istio's place for them: the ConfigMap `istio` (data key `mesh`, a
// YAML MeshConfig) in the root namespace. Read: trustDomain, rootNamespace,
// outboundTrafficPolicy.mode, defaultConfig.tracing.sampling, extensionProviders (ext-authz),
// pathNormalization.normalization, defaultConfig.proxyMetadata ISTIO_META_DNS_CAPTURE and
// ISTIO_META_DNS_AUTO_ALLOCATE, and Ambit's jwksAllowHttp. Explicit translate options
// win over the ConfigMap, which wins over the defaults.
import { parse } from 'yaml';
import { num, rec, str } from './raw.js';
import { Issues } from './validate/common.js';
import { extensionProvidersFrom } from './extension-providers.js';
import type { KubeObject } from '../sources/types.js';
import type { MeshConfig } from '../../core/model/types.js';
import { isPathNormalization, PATH_NORMALIZATIONS } from '../../core/http/path-normalize.js';

export const MESH_CONFIGMAP = 'istio';

export function isMeshConfigMap(obj: KubeObject, rootNamespace: string): boolean {
  return (
    obj.kind === 'ConfigMap' &&
    obj.metadata.name === MESH_CONFIGMAP &&
    (obj.metadata.namespace ?? 'default') === rootNamespace
  );
}

/** The settings of a mesh ConfigMap, or the problems that make it unusable. */
export function meshConfigFrom(obj: KubeObject): { mesh: Partial<MeshConfig>; issues: Issues } {
  const issues = new Issues();
  const text = str(rec(obj.data)?.mesh);
  if (text === undefined) return { mesh: {}, issues };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    issues.add('data.mesh', `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return { mesh: {}, issues };
  }
  const m = rec(doc) ?? {};
  const out: { -readonly [K in keyof MeshConfig]?: MeshConfig[K] } = {};
  if (m.trustDomain !== undefined) {
    if (typeof m.trustDomain !== 'string' || !/^[a-z0-9.-]+$/i.test(m.trustDomain))
      issues.add('data.mesh.trustDomain', `invalid trust domain ${JSON.stringify(m.trustDomain)}`);
    else out.trustDomain = m.trustDomain;
  }
  if (m.rootNamespace !== undefined) {
    if (typeof m.rootNamespace !== 'string' || m.rootNamespace === '')
      issues.add('data.mesh.rootNamespace', 'must be a namespace name');
    else out.rootNamespace = m.rootNamespace;
  }
  const mode = rec(m.outboundTrafficPolicy)?.mode;
  if (mode !== undefined) {
    if (mode !== 'ALLOW_ANY' && mode !== 'REGISTRY_ONLY')
      issues.add(
        'data.mesh.outboundTrafficPolicy.mode',
        `unknown value ${JSON.stringify(mode)} (allowed: ALLOW_ANY, REGISTRY_ONLY)`,
      );
    else out.outboundTrafficPolicy = mode;
  }
  const sampling = rec(rec(m.defaultConfig)?.tracing)?.sampling;
  if (sampling !== undefined) {
    const v = num(sampling);
    if (v === undefined || v < 0 || v > 100)
      issues.add(
        'data.mesh.defaultConfig.tracing.sampling',
        `percentage ${JSON.stringify(sampling)} must be between 0 and 100`,
      );
    else out.traceSampling = v;
  }
  if (m.extensionProviders !== undefined) out.extensionProviders = extensionProvidersFrom(m.extensionProviders, issues);
  const normalization = rec(m.pathNormalization)?.normalization;
  if (normalization !== undefined) {
    if (!isPathNormalization(normalization))
      issues.add(
        'data.mesh.pathNormalization.normalization',
        `unknown value ${JSON.stringify(normalization)} (allowed: ${PATH_NORMALIZATIONS.join(', ')})`,
      );
    else out.pathNormalization = normalization;
  }
  if (m.jwksAllowHttp !== undefined) {
    if (typeof m.jwksAllowHttp !== 'boolean') issues.add('data.mesh.jwksAllowHttp', 'must be true or false');
    else out.jwksAllowHttp = m.jwksAllowHttp;
  }
  readDnsSwitches(rec(rec(m.defaultConfig)?.proxyMetadata), out, issues);
  return { mesh: out, issues };
}

/** Istio's DNS proxy switches, where Istio reads them: `defaultConfig.proxyMetadata` ("true"/"false"). */
function readDnsSwitches(
  meta: Record<string, unknown> | undefined,
  out: { dnsCapture?: boolean; dnsAutoAllocate?: boolean },
  issues: Issues,
): void {
  const flags = [
    ['ISTIO_META_DNS_CAPTURE', 'dnsCapture'],
    ['ISTIO_META_DNS_AUTO_ALLOCATE', 'dnsAutoAllocate'],
  ] as const;
  for (const [key, field] of flags) {
    const v = meta?.[key];
    if (v === undefined) continue;
    const text = String(v).toLowerCase();
    if (text !== 'true' && text !== 'false')
      issues.add(`data.mesh.defaultConfig.proxyMetadata.${key}`, `must be "true" or "false", not ${JSON.stringify(v)}`);
    else out[field] = text === 'true';
  }
}
