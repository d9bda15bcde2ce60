// The Istio custom resources Ambit installs, with the schema of their `spec`: one source for
// the chart's CRDs (ctl/crds) and for the controller's decoding of objects (decode.ts).
import * as ext from './extensions.js';
import * as net from './networking.js';
import * as sec from './security.js';
import type { Schema } from './schema.js';

export type { Schema } from './schema.js';

export interface CrdSpec {
  readonly group: 'networking.istio.io' | 'security.istio.io' | 'telemetry.istio.io' | 'extensions.istio.io';
  readonly kind: string;
  readonly plural: string;
  readonly shortNames?: readonly string[];
  readonly versions: readonly string[];
  /** The version stored in etcd (Istio stores v1 where it exists). */
  readonly storage: string;
  readonly spec: Schema;
  readonly clusterScoped?: boolean;
}

const NET_ALL = ['v1', 'v1beta1', 'v1alpha3'];
const SEC_ALL = ['v1', 'v1beta1'];
const NET = 'networking.istio.io';
const SEC = 'security.istio.io';

export const CRDS: readonly CrdSpec[] = [
  {
    group: NET,
    kind: 'VirtualService',
    plural: 'virtualservices',
    shortNames: ['vs'],
    versions: NET_ALL,
    storage: 'v1',
    spec: net.virtualService,
  },
  {
    group: NET,
    kind: 'DestinationRule',
    plural: 'destinationrules',
    shortNames: ['dr'],
    versions: NET_ALL,
    storage: 'v1',
    spec: net.destinationRule,
  },
  {
    group: NET,
    kind: 'ServiceEntry',
    plural: 'serviceentries',
    shortNames: ['se'],
    versions: NET_ALL,
    storage: 'v1',
    spec: net.serviceEntry,
  },
  {
    group: NET,
    kind: 'Gateway',
    plural: 'gateways',
    shortNames: ['gw'],
    versions: NET_ALL,
    storage: 'v1',
    spec: net.gateway,
  },
  { group: NET, kind: 'Sidecar', plural: 'sidecars', versions: NET_ALL, storage: 'v1', spec: net.sidecar },
  {
    group: NET,
    kind: 'WorkloadEntry',
    plural: 'workloadentries',
    shortNames: ['we'],
    versions: NET_ALL,
    storage: 'v1',
    spec: net.workloadEntry,
  },
  {
    group: NET,
    kind: 'WorkloadGroup',
    plural: 'workloadgroups',
    shortNames: ['wg'],
    versions: NET_ALL,
    storage: 'v1',
    spec: net.workloadGroup,
  },
  {
    group: NET,
    kind: 'EnvoyFilter',
    plural: 'envoyfilters',
    versions: ['v1alpha3'],
    storage: 'v1alpha3',
    spec: ext.envoyFilter,
  },
  {
    group: NET,
    kind: 'ProxyConfig',
    plural: 'proxyconfigs',
    versions: ['v1beta1'],
    storage: 'v1beta1',
    spec: ext.proxyConfig,
  },
  {
    group: SEC,
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
    shortNames: ['pa'],
    versions: SEC_ALL,
    storage: 'v1',
    spec: sec.peerAuthentication,
  },
  {
    group: SEC,
    kind: 'RequestAuthentication',
    plural: 'requestauthentications',
    shortNames: ['ra'],
    versions: SEC_ALL,
    storage: 'v1',
    spec: sec.requestAuthentication,
  },
  {
    group: SEC,
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
    shortNames: ['ap'],
    versions: SEC_ALL,
    storage: 'v1',
    spec: sec.authorizationPolicy,
  },
  {
    group: 'telemetry.istio.io',
    kind: 'Telemetry',
    plural: 'telemetries',
    shortNames: ['telemetry'],
    versions: ['v1', 'v1alpha1'],
    storage: 'v1',
    spec: ext.telemetry,
  },
  {
    group: 'extensions.istio.io',
    kind: 'WasmPlugin',
    plural: 'wasmplugins',
    versions: ['v1alpha1'],
    storage: 'v1alpha1',
    spec: ext.wasmPlugin,
  },
];

/** The schema of `spec` for an Istio kind of the given API group, if Ambit installs its CRD. */
export function specSchemaOf(group: string, kind: string): Schema | undefined {
  return CRDS.find((c) => c.group === group && c.kind === kind)?.spec;
}
