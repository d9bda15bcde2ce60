// The controller's own Prometheus metrics (prom-client), served on 15014.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ControllerMetrics {
  readonly registry: Registry;
  /** One per response sent to a client, by resource type. */
  readonly pushes: Counter<'type'>;
  /** From the first change of a burst to the pushes it caused being written. */
  readonly pushLatency: Histogram;
  readonly nacks: Counter<'type'>;
  readonly connectedClients: Gauge<'role'>;
  readonly certificatesIssued: Counter;
  readonly rejectedObjects: Gauge;
}

export function createControllerMetrics(opts: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    pushes: new Counter({
      name: 'ambit_pushes_total',
      help: 'Discovery responses sent to clients',
      labelNames: ['type'],
      registers: [registry],
    }),
    pushLatency: new Histogram({
      name: 'ambit_push_duration_seconds',
      help: 'Time from a configuration change to its push to every client',
      buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
      registers: [registry],
    }),
    nacks: new Counter({
      name: 'ambit_nacks_total',
      help: 'Discovery responses rejected by clients',
      labelNames: ['type'],
      registers: [registry],
    }),
    connectedClients: new Gauge({
      name: 'ambit_connected_clients',
      help: 'Open discovery streams',
      labelNames: ['role'],
      registers: [registry],
    }),
    certificatesIssued: new Counter({
      name: 'ambit_certificates_issued_total',
      help: 'Workload certificates signed',
      registers: [registry],
    }),
    rejectedObjects: new Gauge({
      name: 'ambit_rejected_objects',
      help: 'Objects rejected by the last translation',
      registers: [registry],
    }),
  };
}
