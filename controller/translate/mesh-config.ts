// Mesh-wide settings from Istio's place for them: the ConfigMap `istio` (data key `mesh`, a
// YAML MeshConfig) in the root namespace. Read: trustDomain, rootNamespace,
// outboundTrafficPolicy.mode, defaultConfig.tracing.sampling, extensionProviders (ext-authz),
// pathNormalization.normalization, defaultConfig.proxyMetadata ISTIO_META_DNS_CAPTURE and
// ISTIO_META_DNS_AUTO_ALLOCATE, and Ambit's jwksAllowHttp. Explicit translate options
// win over the ConfigMap, which wins over the defaults.
import { parse } from 'yaml';
import { Issues } from './validate/common.js';
import { extensionProvidersFrom } from './extension-providers.js';
import { decodeObject } from './decode-object.js';
import { decode } from '../../core/crds/decode.js';
import { configMapBody, meshConfig, type MeshConfigDoc } from '../../core/crds/mesh-config.js';
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

/** The decoded MeshConfig of a mesh ConfigMap, with what made parts of it unusable. */
export interface MeshConfigDocument {
  /** undefined: no `data.mesh`, or not YAML. Holds only what decoded cleanly. */
  readonly doc?: MeshConfigDoc;
  readonly issues: Issues;
}

const documents = new WeakMap<KubeObject, MeshConfigDocument>();

/** The ConfigMap's `data.mesh`, parsed and decoded once per object. */
export function meshConfigDocument(cm: KubeObject): MeshConfigDocument {
  const hit = documents.get(cm);
  if (hit) return hit;
  const issues = new Issues();
  const decoded = decodeObject(cm, configMapBody);
  for (const i of decoded.issues) issues.add(i.field, i.reason);
  const text = decoded.value.data?.mesh;
  let result: MeshConfigDocument = { issues };
  if (text !== undefined) {
    try {
      const doc = decode(meshConfig, parse(text), 'data.mesh', (field, reason) => issues.add(field, reason)) ?? {};
      result = { doc, issues };
    } catch (err) {
      issues.add('data.mesh', `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  documents.set(cm, result);
  return result;
}

/** The decoded MeshConfig of the root namespace's mesh ConfigMap among `objects`, if any. */
export function meshConfigDocOf(objects: readonly KubeObject[], rootNamespace: string): MeshConfigDoc | undefined {
  const cm = objects.find((o) => isMeshConfigMap(o, rootNamespace));
  return cm ? meshConfigDocument(cm).doc : undefined;
}

/** The settings of a mesh ConfigMap, or the problems that make it unusable. */
export function meshConfigFrom(obj: KubeObject): { mesh: Partial<MeshConfig>; issues: Issues } {
  const { doc: m, issues: decodeIssues } = meshConfigDocument(obj);
  const issues = new Issues();
  issues.list.push(...decodeIssues.list);
  // What decoding refused already rejects the ConfigMap; the value rules run on a clean decode.
  if (!m || !decodeIssues.empty) return { mesh: {}, issues };
  const out: { -readonly [K in keyof MeshConfig]?: MeshConfig[K] } = {};
  if (m.trustDomain !== undefined) {
    if (!/^[a-z0-9.-]+$/i.test(m.trustDomain))
      issues.add('data.mesh.trustDomain', `invalid trust domain ${JSON.stringify(m.trustDomain)}`);
    else out.trustDomain = m.trustDomain;
  }
  if (m.rootNamespace !== undefined) {
    if (m.rootNamespace === '') issues.add('data.mesh.rootNamespace', 'must be a namespace name');
    else out.rootNamespace = m.rootNamespace;
  }
  if (m.outboundTrafficPolicy?.mode !== undefined) out.outboundTrafficPolicy = m.outboundTrafficPolicy.mode;
  const sampling = m.defaultConfig?.tracing?.sampling;
  if (sampling !== undefined) {
    if (sampling < 0 || sampling > 100)
      issues.add('data.mesh.defaultConfig.tracing.sampling', `percentage ${sampling} must be between 0 and 100`);
    else out.traceSampling = sampling;
  }
  if (m.extensionProviders !== undefined) out.extensionProviders = extensionProvidersFrom(m.extensionProviders, issues);
  const normalization = m.pathNormalization?.normalization;
  if (normalization !== undefined) {
    if (!isPathNormalization(normalization))
      issues.add(
        'data.mesh.pathNormalization.normalization',
        `unknown value ${JSON.stringify(normalization)} (allowed: ${PATH_NORMALIZATIONS.join(', ')})`,
      );
    else out.pathNormalization = normalization;
  }
  if (m.jwksAllowHttp !== undefined) out.jwksAllowHttp = m.jwksAllowHttp;
  readDnsSwitches(m.defaultConfig?.proxyMetadata, out, issues);
  return { mesh: out, issues };
}

/** Istio's DNS proxy switches, where Istio reads them: `defaultConfig.proxyMetadata` ("true"/"false"). */
function readDnsSwitches(
  meta: Readonly<Record<string, unknown>> | undefined,
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
