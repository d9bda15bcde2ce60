// Schemas of the Kubernetes kinds the mesh model is built from (Namespace, Node, Pod, Service,
// ServiceAccount, Deployment, EndpointSlice), from the Kubernetes API reference. They list
// only the fields the translators read, with their types: every object is open, so the rest
// of a Pod or a Deployment is kept as it is, neither reported nor decoded (pods are the bulk
// of the input: decoding only what is read keeps it cheap). The API server owns these kinds;
// the chart renders no CRD from them.
import { arr, bool, int, intOrString, labels, obj, str, strings, type TypeOf } from './schema.js';

const open = { open: true } as const;

/**
 * ObjectMeta: what the translators read past name, namespace, labels and annotations (which
 * the sources already guarantee, as the API server does: controller/sources/file-parse.ts).
 */
export const objectMeta = obj(
  {
    generateName: str,
    creationTimestamp: str,
    deletionTimestamp: str,
    ownerReferences: arr(
      obj(
        { apiVersion: str, kind: str, name: str, uid: str, controller: bool },
        { required: ['kind', 'name'], open: true },
      ),
    ),
  },
  open,
);

const containerPort = obj(
  { name: str, containerPort: int, protocol: str },
  { required: ['containerPort'], open: true },
);

export const podSpec = obj(
  {
    nodeName: str,
    serviceAccountName: str,
    serviceAccount: str,
    containers: arr(obj({ name: str, ports: arr(containerPort) }, open)),
  },
  open,
);

export const podStatus = obj(
  {
    phase: str,
    podIP: str,
    podIPs: arr(obj({ ip: str }, open)),
    conditions: arr(obj({ type: str, status: str }, { required: ['type', 'status'], open: true })),
  },
  open,
);

export const podBody = obj({ spec: podSpec, status: podStatus }, open);

export const servicePort = obj(
  { name: str, protocol: str, appProtocol: str, port: int, targetPort: intOrString },
  { required: ['port'], open: true },
);

export const serviceSpec = obj(
  { type: str, selector: labels, ports: arr(servicePort), clusterIP: str, clusterIPs: strings },
  open,
);

export const serviceBody = obj({ spec: serviceSpec }, open);

export const deploymentSpec = obj(
  {
    replicas: int,
    selector: obj({ matchLabels: labels }, open),
    template: obj({ metadata: obj({ labels, annotations: labels }, open), spec: podSpec }, open),
  },
  open,
);

export const deploymentBody = obj({ spec: deploymentSpec }, open);

export const endpointSliceBody = obj(
  {
    addressType: str,
    endpoints: arr(
      obj(
        {
          addresses: strings,
          conditions: obj({ ready: bool, serving: bool, terminating: bool }, open),
          targetRef: obj({ kind: str, name: str, namespace: str, uid: str }, open),
          nodeName: str,
        },
        { required: ['addresses'], open: true },
      ),
    ),
    ports: arr(obj({ name: str, port: int, protocol: str, appProtocol: str }, open)),
  },
  open,
);

/** Namespace, Node, ServiceAccount: only their metadata is read. */
export const metadataOnlyBody = obj({}, open);

export type ObjectMetaFields = TypeOf<typeof objectMeta>;
export type PodBody = TypeOf<typeof podBody>;
export type PodSpec = TypeOf<typeof podSpec>;
export type ServiceBody = TypeOf<typeof serviceBody>;
export type ServicePort = TypeOf<typeof servicePort>;
export type DeploymentBody = TypeOf<typeof deploymentBody>;
export type EndpointSliceBody = TypeOf<typeof endpointSliceBody>;
export type MetadataOnlyBody = TypeOf<typeof metadataOnlyBody>;
