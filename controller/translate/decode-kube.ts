// Decoding of the Kubernetes and Gateway API objects the mesh model is built from: their
// metadata (labels, owner references, timestamps) and their body (spec, status, an
// EndpointSlice's endpoints), against the open schemas of core/crds/kubernetes.ts and
// core/crds/gateway-api.ts. One pass over the object, cached per object as decodeObject does
// (decode-object.ts decodes the body only; the translators of these kinds also read metadata).
import { decode } from '../../core/crds/decode.js';
import * as gw from '../../core/crds/gateway-api.js';
import * as k8s from '../../core/crds/kubernetes.js';
import type { Schema } from '../../core/crds/schema.js';
import type { KubeObject, ObjectMeta } from '../sources/types.js';
import type { DecodeResult } from './decode-object.js';
import type { Issue } from './validate/common.js';

/** A decoded Kubernetes or Gateway API object: typed metadata and body `B`. */
export type KubeDecoded<B> = KubeObject & B & { readonly metadata: ObjectMeta & k8s.ObjectMetaFields };

export type Namespace = KubeDecoded<k8s.MetadataOnlyBody>;
export type Node = KubeDecoded<k8s.MetadataOnlyBody>;
export type ServiceAccount = KubeDecoded<k8s.MetadataOnlyBody>;
export type Pod = KubeDecoded<k8s.PodBody>;
export type K8sService = KubeDecoded<k8s.ServiceBody>;
export type Deployment = KubeDecoded<k8s.DeploymentBody>;
export type EndpointSlice = KubeDecoded<k8s.EndpointSliceBody>;
export type K8sGateway = KubeDecoded<gw.GatewayBody>;
export type HttpRoute = KubeDecoded<gw.HttpRouteBody>;
export type GrpcRoute = KubeDecoded<gw.GrpcRouteBody>;
export type ReferenceGrant = KubeDecoded<gw.ReferenceGrantBody>;

const APIVERSION_KIND = new Set(['apiVersion', 'kind']);

const withMetadata = new Map<Schema, Schema>();
const cache = new WeakMap<Schema, WeakMap<KubeObject, DecodeResult<unknown>>>();

/** `body` with `metadata` added to its properties (the same open/required settings). */
function fullSchema(body: Schema): Schema {
  let full = withMetadata.get(body);
  if (!full) {
    const props = (body.properties ?? {}) as Readonly<Record<string, Schema>>;
    full = { ...body, properties: { ...props, metadata: k8s.objectMeta } };
    withMetadata.set(body, full);
  }
  return full;
}

/**
 * Decode `o` (metadata and the fields past apiVersion/kind) against `body`, reporting paths as
 * `spec.ports[0].port` or `metadata.labels.version`; cached per object and schema.
 */
export function decodeKubeObject<B>(o: KubeObject, body: Schema<B>): DecodeResult<KubeDecoded<B>> {
  let perSchema = cache.get(body);
  if (!perSchema) cache.set(body, (perSchema = new WeakMap()));
  const hit = perSchema.get(o);
  if (hit) return hit as DecodeResult<KubeDecoded<B>>;
  const issues: Issue[] = [];
  const rest: Record<string, unknown> = {};
  for (const key of Object.keys(o)) if (!APIVERSION_KIND.has(key)) rest[key] = o[key];
  const decoded = decode(fullSchema(body), rest, '', (path, reason) =>
    issues.push({ field: path.replace(/^\./, ''), reason }),
  );
  const value = { ...(decoded as object), apiVersion: o.apiVersion, kind: o.kind, metadata: metadataOf(o, decoded) };
  const result = { value: value as KubeDecoded<B>, issues };
  perSchema.set(o, result);
  return result;
}

/** The decoded metadata; name and namespace as given when decoding dropped them (reported then). */
function metadataOf(o: KubeObject, decoded: unknown): ObjectMeta {
  const meta = (decoded as { metadata?: ObjectMeta } | undefined)?.metadata;
  if (meta && typeof meta.name === 'string') return meta;
  return { ...meta, name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) };
}

export const kubeBodies = {
  Namespace: k8s.metadataOnlyBody,
  Node: k8s.metadataOnlyBody,
  ServiceAccount: k8s.metadataOnlyBody,
  Pod: k8s.podBody,
  Service: k8s.serviceBody,
  Deployment: k8s.deploymentBody,
  EndpointSlice: k8s.endpointSliceBody,
  Gateway: gw.gatewayBody,
  HTTPRoute: gw.httpRouteBody,
  GRPCRoute: gw.grpcRouteBody,
  ReferenceGrant: gw.referenceGrantBody,
} as const;

/** A Pod decoded (incremental translation decodes pods it sees outside the inventory). */
export function decodePod(o: KubeObject): DecodeResult<Pod> {
  return decodeKubeObject(o, k8s.podBody);
}
