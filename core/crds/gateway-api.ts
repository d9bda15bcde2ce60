// Schemas of the Gateway API kinds Ambit reads (gateway.networking.k8s.io v1: Gateway,
// HTTPRoute, GRPCRoute, ReferenceGrant), written from the Gateway API v1 reference: the fields
// Ambit reads and validates, with their types, enums and required fields. Every object is
// open: fields Ambit does not read are kept, not reported (the Gateway API has many more).
// The chart does not render CRDs from these: its Gateway API CRDs
// (deploy/charts/ambit/crds/gateway-api.yaml) preserve unknown fields; these schemas are the
// controller's decode only.
import { arr, int, labels, obj, oneOfEnum, port, str, strings, type TypeOf } from './schema.js';

const open = { open: true } as const;

const condition = obj(
  { type: str, status: str, reason: str, message: str, lastTransitionTime: str, observedGeneration: int },
  open,
);
const conditions = arr(condition);

/** ParentReference: a Gateway (or, GAMMA, a Service) a route attaches to. */
export const parentRef = obj(
  { group: str, kind: str, namespace: str, name: str, sectionName: str, port },
  { required: ['name'], open: true },
);

/** BackendObjectReference (a mirror's backend): a Service and port. */
export const backendObjectRef = obj(
  { group: str, kind: str, namespace: str, name: str, port },
  { required: ['name'], open: true },
);

const backendRef = obj(
  { group: str, kind: str, namespace: str, name: str, port, weight: int },
  { required: ['name'], open: true },
);

const headerValue = obj({ name: str, value: str }, { required: ['name', 'value'], open: true });
const headerModifier = obj({ set: arr(headerValue), add: arr(headerValue), remove: strings }, open);
const requestMirror = obj({ backendRef: backendObjectRef }, { required: ['backendRef'], open: true });
const pathModifier = obj(
  { type: oneOfEnum('ReplaceFullPath', 'ReplacePrefixMatch'), replaceFullPath: str, replacePrefixMatch: str },
  { required: ['type'], open: true },
);

const gatewayStatusAddress = obj({ type: str, value: str }, { required: ['value'], open: true });

export const gateway = obj(
  {
    gatewayClassName: str,
    listeners: arr(
      obj(
        {
          name: str,
          hostname: str,
          port,
          protocol: str,
          tls: obj(
            {
              mode: oneOfEnum('Terminate', 'Passthrough'),
              certificateRefs: arr(
                obj({ group: str, kind: str, name: str, namespace: str }, { required: ['name'], open: true }),
              ),
            },
            open,
          ),
        },
        { required: ['name', 'port', 'protocol'], open: true },
      ),
    ),
    addresses: arr(obj({ type: str, value: str }, open)),
    infrastructure: obj({ labels, annotations: labels }, open),
  },
  { required: ['gatewayClassName'], open: true },
);

export const gatewayStatus = obj(
  {
    addresses: arr(gatewayStatusAddress),
    conditions,
    listeners: arr(obj({ name: str, attachedRoutes: int, conditions }, open)),
  },
  open,
);

const stringValueMatch = obj(
  { type: oneOfEnum('Exact', 'RegularExpression'), name: str, value: str },
  { required: ['name', 'value'], open: true },
);

const httpMethod = oneOfEnum('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH');

const httpRouteMatch = obj(
  {
    path: obj({ type: oneOfEnum('Exact', 'PathPrefix', 'RegularExpression'), value: str }, open),
    headers: arr(stringValueMatch),
    queryParams: arr(stringValueMatch),
    method: httpMethod,
  },
  open,
);

const httpRouteFilter = obj(
  {
    type: str,
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestMirror,
    requestRedirect: obj(
      {
        scheme: oneOfEnum('http', 'https'),
        hostname: str,
        path: pathModifier,
        port,
        statusCode: int,
      },
      open,
    ),
    urlRewrite: obj({ hostname: str, path: pathModifier }, open),
    extensionRef: obj({ group: str, kind: str, name: str }, open),
  },
  { required: ['type'], open: true },
);

export const httpRouteRule = obj(
  {
    name: str,
    matches: arr(httpRouteMatch),
    filters: arr(httpRouteFilter),
    backendRefs: arr(backendRef),
    timeouts: obj({ request: str, backendRequest: str }, open),
  },
  open,
);

const routeParentStatus = obj(
  { parentRef, controllerName: str, conditions },
  { required: ['parentRef', 'controllerName'], open: true },
);

/** Status of a route (HTTPRoute, GRPCRoute): one entry per parent and controller. */
export const routeStatus = obj({ parents: arr(routeParentStatus) }, open);

export const httpRoute = obj({ parentRefs: arr(parentRef), hostnames: strings, rules: arr(httpRouteRule) }, open);

const grpcMethodMatch = obj({ type: oneOfEnum('Exact', 'RegularExpression'), service: str, method: str }, open);

export const grpcRouteRule = obj(
  {
    name: str,
    matches: arr(obj({ method: grpcMethodMatch, headers: arr(stringValueMatch) }, open)),
    filters: arr(
      obj(
        {
          type: str,
          requestHeaderModifier: headerModifier,
          responseHeaderModifier: headerModifier,
          requestMirror,
          extensionRef: obj({ group: str, kind: str, name: str }, open),
        },
        { required: ['type'], open: true },
      ),
    ),
    backendRefs: arr(backendRef),
  },
  open,
);

export const grpcRoute = obj({ parentRefs: arr(parentRef), hostnames: strings, rules: arr(grpcRouteRule) }, open);

export const referenceGrant = obj(
  {
    from: arr(obj({ group: str, kind: str, namespace: str }, { required: ['group', 'kind', 'namespace'], open: true })),
    to: arr(obj({ group: str, kind: str, name: str }, { required: ['group', 'kind'], open: true })),
  },
  open,
);

/** The decoded top-level fields of each kind (apiVersion, kind and metadata aside). */
export const gatewayBody = obj({ spec: gateway, status: gatewayStatus }, { required: ['spec'], open: true });
export const httpRouteBody = obj({ spec: httpRoute, status: routeStatus }, { required: ['spec'], open: true });
export const grpcRouteBody = obj({ spec: grpcRoute, status: routeStatus }, { required: ['spec'], open: true });
export const referenceGrantBody = obj({ spec: referenceGrant }, { required: ['spec'], open: true });

export type GatewayBody = TypeOf<typeof gatewayBody>;
export type HttpRouteBody = TypeOf<typeof httpRouteBody>;
export type HttpRouteRule = TypeOf<typeof httpRouteRule>;
export type GrpcRouteBody = TypeOf<typeof grpcRouteBody>;
export type GrpcRouteRule = TypeOf<typeof grpcRouteRule>;
export type ReferenceGrantBody = TypeOf<typeof referenceGrantBody>;
export type ParentRef = TypeOf<typeof parentRef>;
export type BackendObjectRef = TypeOf<typeof backendObjectRef>;
export type RouteStatus = TypeOf<typeof routeStatus>;
