// Decoding of the Kubernetes and Gateway API objects the mesh model is built from: their
// metadata (labels, owner references, timestamps) and their body (spec, status, an
// EndpointSlice's endpoints), against the open schemas of core/crds/kubernetes.ts and
// core/crds/gateway-api.ts. One pass over the object, cached per object as decodeObject does
// (decode-object.ts decodes the body only; the translators of these kinds also read metadata).
import { decode } from '../../core/crds/decode.js';
import * as gw from '../../core/crds/gateway-api.js';
import * as k8s from '../../core/crds/kubernetes.js';
import { str, type Schema } from '../../core/crds/schema.js';
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

const withMetadata = new Map<Schema, Schema>();
const cache = new WeakMap<Schema, WeakMap<KubeObject, DecodeResult<unknown>>>();

/** `body` with apiVersion, kind and metadata added to its properties (the same open/required settings). */
function fullSchema(body: Schema): Schema {
  let full = withMetadata.get(body);
  if (!full) {
    const props = (body.properties ?? {}) as Readonly<Record<string, Schema>>;
    full = { ...body, properties: { ...props, apiVersion: str, kind: str, metadata: k8s.objectMeta } };
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
  // One pass over the whole object (apiVersion and kind are strings already: the sources check them).
  const decoded = decode(fullSchema(body), o, '', (path, reason) =>
    issues.push({ field: path.replace(/^\./, ''), reason }),
  ) as Record<string, unknown> | undefined;
  const value = decoded && isNamed(decoded.metadata) ? decoded : { ...decoded, metadata: o.metadata };
  const result = { value: value as KubeDecoded<B>, issues };
  perSchema.set(o, result);
  return result;
}

/** Whether decoding kept the metadata (open: name and namespace as given); else the given one is kept. */
function isNamed(meta: unknown): boolean {
  return typeof (meta as { name?: unknown } | undefined)?.name === 'string';
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
