// Assembles a gateway inside the waypoint binary: credentials (files, or Secrets in kube
// mode), the server-port listeners and the runtime that applies each push.
import type { Logger } from '../../core/log.js';
import type { WaypointSettings } from '../config/settings.js';
import type { WaypointRuntime } from '../runtime.js';
import type { WaypointTelemetry } from '../telemetry.js';
import type { Tracer } from '../tracing.js';
import { folderCredentials, GatewayCredentials, type CredentialReader } from './credentials.js';
import { GatewayRuntime } from './gateway-runtime.js';
import { gatewayPeer, gatewayReporter, GatewayTcpMetrics } from './gateway-reporter.js';
import type { MeshMetrics } from '../../core/metrics/mesh-metrics.js';
import { GatewayListeners } from './listeners.js';

export interface StartedGateway {
  readonly runtime: GatewayRuntime;
  readonly listeners: GatewayListeners;
  close(): Promise<void>;
}

export async function startGateway(
  s: WaypointSettings,
  deps: {
    runtime: WaypointRuntime;
    telemetry: WaypointTelemetry;
    tracer: Tracer;
    identity: string;
    log: Logger;
    /** For Istio's TCP metrics of forwarded connections (absent: none). */
    metrics?: MeshMetrics;
  },
): Promise<StartedGateway> {
  let reader: CredentialReader;
  if (s.gateway.credentialSource === 'kube') {
    const { kubeSecretCredentials } = await import('./kube-secrets.js');
    reader = kubeSecretCredentials({ namespace: s.namespace, log: deps.log });
  } else {
    reader = folderCredentials(s.gateway.credentialDir);
  }
  const credentials = new GatewayCredentials({ reader, log: deps.log });
  const self = gatewayPeer({
    podName: s.podName,
    namespace: s.namespace,
    labels: s.gateway.labels,
    identity: deps.identity,
  });
  deps.telemetry.reportAs(gatewayReporter(self));
  const listeners = new GatewayListeners({
    transports: deps.runtime.transports,
    credentials,
    log: deps.log,
    host: s.gateway.host,
    pipeline: () => deps.runtime.pipeline(),
    telemetry: deps.telemetry,
    selfIdentity: () => deps.identity,
    tracer: deps.tracer,
    ...(deps.metrics ? { tcpMetrics: new GatewayTcpMetrics(deps.metrics, self) } : {}),
  });
  const runtime = new GatewayRuntime({
    self: { namespace: s.namespace, labels: s.gateway.labels, trustDomain: s.trustDomain },
    runtime: deps.runtime,
    listeners,
    credentials,
    log: deps.log,
  });
  return {
    runtime,
    listeners,
    close: async () => {
      credentials.close();
      await listeners.close();
    },
  };
}
