#!/usr/bin/env node
// `ambit-waypoint`: a namespace's waypoint, or with --mode ingress-gateway|egress-gateway a
// gateway serving the Istio Gateways that select its labels (waypoint/gateway/), through
// the same L7 pipeline, into the mesh over HBONE with its own identity.
// Controller mode (AMBIT_CONTROLLER): L7 config and certificate from the controller.
// File mode (AMBIT_WAYPOINT_CONFIG_FILE, or AMBIT_GATEWAY_CONFIG_FILE for a gateway): config
// from a file, certificate from an in-process CA persisted in AMBIT_STATE_DIR/ca.
import { applyRelayTuning } from '../core/hbone/tuning.js';
import { runUntilSignalled } from '../core/config/component.js';
import { holdProcessOpen } from '../core/config/hold-open.js';
import { printReadyLine } from '../core/config/ready-line.js';
import { describeError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { waypointSettings } from './config/settings.js';
import { WaypointProcess } from './process.js';

const log = createLogger('waypoint');

async function main(): Promise<void> {
  applyRelayTuning();
  const s = waypointSettings(process.argv);
  const release = holdProcessOpen(); // until it listens: it may wait long for the controller
  const waypoint = new WaypointProcess(s, log);
  await waypoint.start();
  runUntilSignalled(waypoint, log);
  const ports = waypoint.ports;
  log.info(waypoint.isGateway ? `${s.mode} serving` : 'waypoint serving', {
    identity: waypoint.identity,
    hbone: ports.hbone,
    namespace: s.namespace,
    pod: s.podName,
    ...(ports.gateway ? { ports: ports.gateway } : {}),
  });
  release();
  printReadyLine({
    ...(ports.gateway ? { gatewayPorts: ports.gateway.join(',') } : {}),
    hbone: ports.hbone,
    admin: ports.admin,
    metrics: ports.metrics,
    ready: ports.ready,
  });
}

main().catch((err: unknown) => {
  log.error('waypoint failed to start', { err: describeError(err) });
  process.exit(1);
});
