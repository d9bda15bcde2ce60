// OpenAPI schemas of Telemetry (applied: controller/translate/telemetry.ts) and of the Istio
// kinds Ambit reports on but does not apply yet (WasmPlugin, ProxyConfig) or never will
// (EnvoyFilter: Envoy's own configuration), written from Istio's API reference. Installing
// them lets `kubectl apply` of existing manifests work.
import {
  anything,
  arr,
  bool,
  duration,
  int,
  labels,
  mapOf,
  num,
  obj,
  oneOfEnum,
  str,
  targetRef,
  workloadSelector,
  type Schema,
} from './schema.js';

const providerRef = obj({ name: str }, { required: ['name'] });
/** Istio's standard metrics, as Telemetry's MetricSelector names them. */
const istioMetric = oneOfEnum(
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
);
const telemetryMatch = obj({
  metric: istioMetric,
  customMetric: str,
  mode: oneOfEnum('CLIENT_AND_SERVER', 'CLIENT', 'SERVER'),
});

/** A tracing tag: exactly one source of its value (Istio's CustomTag oneof). */
const customTag = obj({
  literal: obj({ value: str }, { required: ['value'] }),
  environment: obj({ name: str, defaultValue: str }, { required: ['name'] }),
  header: obj({ name: str, defaultValue: str }, { required: ['name'] }),
  formatter: obj({ value: str }, { required: ['value'] }),
});

export const telemetry = obj({
  selector: workloadSelector,
  targetRef,
  targetRefs: arr(targetRef),
  tracing: arr(
    obj({
      match: obj({ mode: oneOfEnum('CLIENT_AND_SERVER', 'CLIENT', 'SERVER') }),
      providers: arr(providerRef),
      randomSamplingPercentage: { ...num, minimum: 0, maximum: 100 } as Schema<number>,
      disableSpanReporting: bool,
      useRequestIdForTraceSampling: bool,
      customTags: mapOf(customTag),
      enableIstioTags: bool,
      disableContextPropagation: bool,
    }),
  ),
  metrics: arr(
    obj({
      providers: arr(providerRef),
      overrides: arr(
        obj({
          match: telemetryMatch,
          disabled: bool,
          tagOverrides: mapOf(obj({ operation: oneOfEnum('UPSERT', 'REMOVE'), value: str })),
        }),
      ),
      reportingInterval: duration,
    }),
  ),
  accessLogging: arr(
    obj({
      match: obj({ mode: oneOfEnum('CLIENT_AND_SERVER', 'CLIENT', 'SERVER') }),
      providers: arr(providerRef),
      disabled: bool,
      filter: obj({ expression: str }),
    }),
  ),
});

const vmConfig = obj({
  env: arr(obj({ name: str, value: str, valueFrom: oneOfEnum('INLINE', 'HOST') }, { required: ['name'] })),
});

export const wasmPlugin = obj(
  {
    selector: workloadSelector,
    targetRef,
    targetRefs: arr(targetRef),
    url: str,
    sha256: str,
    imagePullPolicy: oneOfEnum('UNSPECIFIED_POLICY', 'IfNotPresent', 'Always'),
    imagePullSecret: str,
    verificationKey: str,
    /** A Struct: any JSON object, kept as written. */
    pluginConfig: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } as Schema<
      Readonly<Record<string, unknown>>
    >,
    pluginName: str,
    phase: oneOfEnum('UNSPECIFIED_PHASE', 'AUTHN', 'AUTHZ', 'STATS'),
    priority: int,
    failStrategy: oneOfEnum('FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'),
    vmConfig,
    match: arr(
      obj({
        mode: oneOfEnum('UNDEFINED', 'CLIENT', 'SERVER', 'CLIENT_AND_SERVER'),
        ports: arr(obj({ number: int }, { required: ['number'] })),
      }),
    ),
    type: oneOfEnum('UNSPECIFIED_PLUGIN_TYPE', 'HTTP', 'NETWORK'),
  },
  { required: ['url'] },
);

export const proxyConfig = obj({
  selector: workloadSelector,
  concurrency: int,
  environmentVariables: mapOf(str),
  image: obj({ imageType: str }),
});

/** EnvoyFilter patches are Envoy configuration: kept as written (Ambit does not apply them). */
export const envoyFilter = obj({
  workloadSelector: obj({ labels }),
  targetRefs: arr(targetRef),
  configPatches: arr(anything),
  priority: int,
});

export const UNAPPLIED_KINDS: ReadonlySet<string> = new Set(['WasmPlugin', 'ProxyConfig', 'EnvoyFilter']);
