// The parts of Istio's MeshConfig Ambit reads (the `mesh` key of the root namespace's `istio`
// ConfigMap), written from Istio's API reference. MeshConfig has many more fields, for Envoy
// and istiod, so objects are open: a field not listed here is kept and not typed, never an
// error. Not a CRD: nothing renders this into the chart.
import { anything, arr, bool, intOrString, mapOf, num, obj, oneOfEnum, str, strings, type TypeOf } from './schema.js';

/** `envoyExtAuthzHttp`: the ext-authz HTTP service a CUSTOM AuthorizationPolicy calls. */
export const envoyExtAuthzHttp = obj(
  {
    service: str,
    port: intOrString,
    pathPrefix: str,
    timeout: str,
    failOpen: bool,
    statusOnError: intOrString,
    includeRequestHeadersInCheck: strings,
    includeAdditionalHeadersInCheck: mapOf(str),
    headersToUpstreamOnAllow: strings,
    headersToDownstreamOnDeny: strings,
  },
  { open: true },
);

/**
 * One of `extensionProviders`: a name and one provider kind (`envoyExtAuthzHttp`,
 * `envoyExtAuthzGrpc`, `envoyFileAccessLog`, `zipkin`, `opentelemetry`, …).
 */
export const extensionProvider = obj(
  {
    name: str,
    envoyExtAuthzHttp,
    envoyFileAccessLog: obj({ path: str, logFormat: anything }, { open: true }),
  },
  { required: ['name'], open: true },
);

export const meshConfig = obj(
  {
    trustDomain: str,
    rootNamespace: str,
    outboundTrafficPolicy: obj({ mode: oneOfEnum('ALLOW_ANY', 'REGISTRY_ONLY') }, { open: true }),
    defaultConfig: obj(
      {
        tracing: obj({ sampling: num }, { open: true }),
        // Istio's proxyMetadata is string → string; Ambit's DNS switches also take YAML booleans.
        proxyMetadata: mapOf(anything),
      },
      { open: true },
    ),
    extensionProviders: arr(extensionProvider),
    defaultProviders: obj({ accessLogging: strings, metrics: strings, tracing: strings }, { open: true }),
    pathNormalization: obj({ normalization: str }, { open: true }),
    /** Ambit's own: let RequestAuthentication fetch a JWKS over plain HTTP (tests, labs). */
    jwksAllowHttp: bool,
  },
  { open: true },
);

/** A ConfigMap's fields past its metadata. */
export const configMapBody = obj({ data: mapOf(str), binaryData: mapOf(str), immutable: bool }, { open: true });

export type MeshConfigDoc = TypeOf<typeof meshConfig>;
export type ExtensionProviderDoc = TypeOf<typeof extensionProvider>;
