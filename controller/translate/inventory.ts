// Sort the input objects by kind, check that their apiVersion is served and validate each
// one; rejected objects are left out of the inventory the translators read.
import type { KubeObject, ObjectOrigin } from '../sources/types.js';
import { objectKey } from '../sources/types.js';
import type { Issues } from './validate/common.js';
import { validateDestinationRule } from './validate/destination-rule.js';
import {
  validateIstioGateway,
  validateServiceEntry,
  validateSidecar,
  validateWorkloadEntry,
  validateWorkloadGroup,
} from './validate/networking.js';
import { validateGatewayApiGateway, validateHttpRoute } from './validate/gateway-api.js';
import { validateDeployment, validatePod, validateService } from './validate/kubernetes.js';
import {
  validateAuthorizationPolicy,
  validatePeerAuthentication,
  validateRequestAuthentication,
} from './validate/security.js';
import { validateVirtualService } from './validate/virtual-service.js';
import { validateGrpcRoute } from './grpc-route-validate.js';
import { validateReferenceGrant } from './reference-grants.js';
import { decodeIstioObject, type DecodeResult, type IstioObject } from './decode-object.js';
import { decodeKubeObject, kubeBodies } from './decode-kube.js';
import type * as k from './decode-kube.js';
import * as net from '../../core/crds/networking.js';
import * as sec from '../../core/crds/security.js';
import type * as crd from '../../core/crds/types.js';
import type { Schema } from '../../core/crds/schema.js';

export interface Rejection {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly field?: string;
  readonly reason: string;
  readonly origin?: ObjectOrigin;
}

/** `Kind/ns/name: field: reason` (plus ` (file:line)` when the origin is known). */
export function formatRejection(r: Rejection): string {
  const id = r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
  const where = r.origin?.file ? ` (${r.origin.file}${r.origin.line ? `:${r.origin.line}` : ''})` : '';
  return `${id}: ${r.field ? `${r.field}: ` : ''}${r.reason}${where}`;
}

const NETWORKING = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];
const SECURITY = ['security.istio.io/v1', 'security.istio.io/v1beta1'];
const GATEWAY_API = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'];

interface KindSpec {
  readonly versions: readonly string[];
  /** Decode into the typed value validation and translation read (schema-level issues). */
  readonly decode?: (obj: KubeObject) => DecodeResult<unknown>;
  /**
   * Istio's value rules, on the decoded object. Method syntax on purpose: a validator may take
   * the decoded type (`IstioObject<VirtualServiceSpec>`), which `decode` above guarantees.
   */
  validate?(obj: KubeObject): Issues;
  readonly bucket: keyof Inventory;
}

function istio<S>(spec: Schema<S>): (obj: KubeObject) => DecodeResult<unknown> {
  return (obj) => decodeIstioObject(obj, spec);
}

/** Kubernetes and Gateway API kinds: metadata and body decoded (open schemas: the rest kept). */
function kube(kind: keyof typeof kubeBodies): (obj: KubeObject) => DecodeResult<unknown> {
  const body = kubeBodies[kind];
  return (obj) => decodeKubeObject(obj, body as Schema);
}

/** Kinds keyed by `group/Kind` so that Istio's Gateway and Gateway API's Gateway differ. */
const KINDS: Record<string, KindSpec> = {
  'core/Namespace': { versions: ['v1'], decode: kube('Namespace'), bucket: 'namespaces' },
  'core/Node': { versions: ['v1'], decode: kube('Node'), bucket: 'nodes' },
  'core/Pod': { versions: ['v1'], decode: kube('Pod'), validate: validatePod, bucket: 'pods' },
  'core/Service': { versions: ['v1'], decode: kube('Service'), validate: validateService, bucket: 'services' },
  'core/ServiceAccount': { versions: ['v1'], decode: kube('ServiceAccount'), bucket: 'serviceAccounts' },
  'apps/Deployment': {
    versions: ['apps/v1'],
    decode: kube('Deployment'),
    validate: validateDeployment,
    bucket: 'deployments',
  },
  'discovery.k8s.io/EndpointSlice': {
    versions: ['discovery.k8s.io/v1'],
    decode: kube('EndpointSlice'),
    bucket: 'endpointSlices',
  },
  'networking.istio.io/VirtualService': {
    decode: istio(net.virtualService),
    versions: NETWORKING,
    validate: validateVirtualService,
    bucket: 'virtualServices',
  },
  'networking.istio.io/DestinationRule': {
    decode: istio(net.destinationRule),
    versions: NETWORKING,
    validate: validateDestinationRule,
    bucket: 'destinationRules',
  },
  'networking.istio.io/ServiceEntry': {
    decode: istio(net.serviceEntry),
    versions: NETWORKING,
    validate: validateServiceEntry,
    bucket: 'serviceEntries',
  },
  'networking.istio.io/Gateway': {
    decode: istio(net.gateway),
    versions: NETWORKING,
    validate: validateIstioGateway,
    bucket: 'gateways',
  },
  'networking.istio.io/Sidecar': {
    decode: istio(net.sidecar),
    versions: NETWORKING,
    validate: validateSidecar,
    bucket: 'sidecars',
  },
  'networking.istio.io/WorkloadEntry': {
    decode: istio(net.workloadEntry),
    versions: NETWORKING,
    validate: validateWorkloadEntry,
    bucket: 'workloadEntries',
  },
  'networking.istio.io/WorkloadGroup': {
    decode: istio(net.workloadGroup),
    versions: NETWORKING,
    validate: validateWorkloadGroup,
    bucket: 'workloadGroups',
  },
  'security.istio.io/AuthorizationPolicy': {
    decode: istio(sec.authorizationPolicy),
    versions: SECURITY,
    validate: validateAuthorizationPolicy,
    bucket: 'authorizationPolicies',
  },
  'security.istio.io/PeerAuthentication': {
    decode: istio(sec.peerAuthentication),
    versions: SECURITY,
    validate: validatePeerAuthentication,
    bucket: 'peerAuthentications',
  },
  'security.istio.io/RequestAuthentication': {
    decode: istio(sec.requestAuthentication),
    versions: SECURITY,
    validate: validateRequestAuthentication,
    bucket: 'requestAuthentications',
  },
  'gateway.networking.k8s.io/Gateway': {
    versions: GATEWAY_API,
    decode: kube('Gateway'),
    validate: validateGatewayApiGateway,
    bucket: 'k8sGateways',
  },
  'gateway.networking.k8s.io/HTTPRoute': {
    versions: GATEWAY_API,
    decode: kube('HTTPRoute'),
    validate: validateHttpRoute,
    bucket: 'httpRoutes',
  },
  'gateway.networking.k8s.io/GRPCRoute': {
    versions: ['gateway.networking.k8s.io/v1'],
    decode: kube('GRPCRoute'),
    validate: validateGrpcRoute,
    bucket: 'grpcRoutes',
  },
  'gateway.networking.k8s.io/ReferenceGrant': {
    versions: ['gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1'],
    decode: kube('ReferenceGrant'),
    validate: validateReferenceGrant,
    bucket: 'referenceGrants',
  },
};

export interface Inventory {
  namespaces: k.Namespace[];
  nodes: k.Node[];
  pods: k.Pod[];
  services: k.K8sService[];
  serviceAccounts: k.ServiceAccount[];
  deployments: k.Deployment[];
  endpointSlices: k.EndpointSlice[];
  virtualServices: IstioObject<crd.VirtualServiceSpec>[];
  destinationRules: IstioObject<crd.DestinationRuleSpec>[];
  serviceEntries: IstioObject<crd.ServiceEntrySpec>[];
  gateways: IstioObject<crd.GatewaySpec>[];
  sidecars: IstioObject<crd.SidecarSpec>[];
  workloadEntries: IstioObject<crd.WorkloadEntrySpec>[];
  workloadGroups: IstioObject<crd.WorkloadGroupSpec>[];
  authorizationPolicies: IstioObject<crd.AuthorizationPolicySpec>[];
  peerAuthentications: IstioObject<crd.PeerAuthenticationSpec>[];
  requestAuthentications: IstioObject<crd.RequestAuthenticationSpec>[];
  k8sGateways: k.K8sGateway[];
  httpRoutes: k.HttpRoute[];
  grpcRoutes: k.GrpcRoute[];
  referenceGrants: k.ReferenceGrant[];
}

function emptyInventory(): Inventory {
  return {
    namespaces: [],
    nodes: [],
    pods: [],
    services: [],
    serviceAccounts: [],
    deployments: [],
    endpointSlices: [],
    virtualServices: [],
    destinationRules: [],
    serviceEntries: [],
    gateways: [],
    sidecars: [],
    workloadEntries: [],
    workloadGroups: [],
    authorizationPolicies: [],
    peerAuthentications: [],
    requestAuthentications: [],
    k8sGateways: [],
    httpRoutes: [],
    grpcRoutes: [],
    referenceGrants: [],
  };
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? 'core' : apiVersion.slice(0, slash);
}

export function rejectionFor(
  obj: KubeObject,
  field: string | undefined,
  reason: string,
  origins?: ReadonlyMap<string, ObjectOrigin>,
): Rejection {
  const origin = origins?.get(objectKey(obj));
  return {
    kind: obj.kind,
    ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
    name: obj.metadata?.name ?? '<unnamed>',
    ...(field ? { field } : {}),
    reason,
    ...(origin ? { origin } : {}),
  };
}

/** Objects of kinds the mesh does not read (ConfigMaps, …) are ignored silently. */
export function buildInventory(
  objects: readonly KubeObject[],
  origins?: ReadonlyMap<string, ObjectOrigin>,
): { inventory: Inventory; rejected: Rejection[] } {
  const inventory = emptyInventory();
  const rejected: Rejection[] = [];
  const seen = new Map<string, KubeObject>();
  for (const obj of objects) {
    const spec = KINDS[`${groupOf(obj.apiVersion ?? '')}/${obj.kind}`];
    if (!spec) continue;
    if (!obj.metadata || typeof obj.metadata.name !== 'string' || obj.metadata.name === '') {
      rejected.push(
        rejectionFor(
          { ...obj, metadata: { name: '<unnamed>' } },
          'metadata.name',
          'required field is missing',
          origins,
        ),
      );
      continue;
    }
    if (!spec.versions.includes(obj.apiVersion)) {
      rejected.push(
        rejectionFor(
          obj,
          'apiVersion',
          `${obj.apiVersion} is not served for ${obj.kind} (use ${spec.versions.join(', ')})`,
          origins,
        ),
      );
      continue;
    }
    const decoded = spec.decode?.(obj);
    if (decoded && decoded.issues.length > 0) {
      for (const issue of decoded.issues) rejected.push(rejectionFor(obj, issue.field, issue.reason, origins));
      continue;
    }
    const value = decoded ? decoded.value : obj;
    const issues = spec.validate?.(value);
    if (issues && !issues.empty) {
      for (const issue of issues.list) rejected.push(rejectionFor(obj, issue.field, issue.reason, origins));
      continue;
    }
    // The same object twice (two files, or two API versions): the last one wins.
    const key = `${groupOf(obj.apiVersion)}/${objectKey(obj)}`;
    const previous = seen.get(key);
    if (previous) {
      const list = inventory[spec.bucket] as KubeObject[];
      list.splice(list.indexOf(previous), 1);
    }
    seen.set(key, value);
    (inventory[spec.bucket] as KubeObject[]).push(value);
  }
  return { inventory, rejected };
}
