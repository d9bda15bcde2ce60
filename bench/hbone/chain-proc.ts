// Helper process: the relays of a chain, so the orchestrator can measure their CPU apart from
// the load generator. Spec as JSON in argv[2]:
//   {"role":"tcp-relay","routes":{"<name>":<targetPort>}}
//   {"role":"hbone-server","credentials":"<file>"}
//   {"role":"hbone-client","credentials":"<file>","hbonePort":P,"routes":{...}}
//   {"role":"hbone-both","credentials":"<file>","routes":{...}}   (client and server relays in one process)
// Prints "READY {"entry":{"<name>":port},"hbonePort"?:P}" and runs until SIGTERM.
import { connect, createServer, type Socket } from 'node:net';
import { setDefaultHighWaterMark } from 'node:stream';
import { applyRelayTuning } from '../../core/hbone/tuning.js';
import { listenLoopback } from '../common/net.js';
import type { Routes } from './hbone-relays.js';
import { loadCredentialsFile } from './pki.js';

interface Spec {
  role: 'tcp-relay' | 'hbone-server' | 'hbone-client' | 'hbone-both';
  routes?: Routes;
  credentials?: string;
  hbonePort?: number;
}

/** A plain Node TCP relay: pipe both ways, half-close preserved, an error tears down both. */
function tcpRelay(down: Socket, targetPort: number): void {
  const up = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true, noDelay: true });
  down.setNoDelay(true);
  const teardown = (): void => {
    down.destroy();
    up.destroy();
  };
  down.on('error', teardown);
  up.on('error', teardown);
  down.pipe(up);
  up.pipe(down);
}

async function startTcpRelays(routes: Routes): Promise<Record<string, number>> {
  const entry: Record<string, number> = {};
  for (const [name, port] of Object.entries(routes)) {
    entry[name] = await listenLoopback(createServer({ allowHalfOpen: true }, (s) => tcpRelay(s, port)));
  }
  return entry;
}

async function main(): Promise<void> {
  // Experiment knob (bench/README.md): a larger default highWaterMark for every stream of the
  // process (sockets, TLS, HTTP/2 streams) cuts pause/resume churn in pipe().
  const hwm = Number(process.env.AMBIT_BENCH_HWM);
  if (hwm > 0) setDefaultHighWaterMark(false, hwm);
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  // HBONE relays run with the product's process tuning (the agent and waypoint apply it).
  if (!(hwm > 0) && spec.role.startsWith('hbone')) applyRelayTuning();
  const creds = spec.credentials ? loadCredentialsFile(spec.credentials) : undefined;
  const needCreds = (): NonNullable<typeof creds> => {
    if (!creds) throw new Error(`chain: role ${spec.role} needs "credentials"`);
    return creds;
  };
  // Loaded only by the HBONE roles, so the plain relay process does not carry node:http2.
  const hbone = (): Promise<typeof import('./hbone-relays.js')> => import('./hbone-relays.js');
  let ready: { entry: Record<string, number>; hbonePort?: number };
  switch (spec.role) {
    case 'tcp-relay':
      ready = { entry: await startTcpRelays(spec.routes ?? {}) };
      break;
    case 'hbone-server':
      ready = { entry: {}, hbonePort: await (await hbone()).startHboneServerRelay(needCreds().server) };
      break;
    case 'hbone-client': {
      if (!spec.hbonePort) throw new Error('chain: hbone-client needs "hbonePort"');
      ready = {
        entry: await (await hbone()).startHboneClientRelays(needCreds().client, spec.hbonePort, spec.routes ?? {}),
      };
      break;
    }
    case 'hbone-both': {
      const { startHboneServerRelay, startHboneClientRelays } = await hbone();
      const hbonePort = await startHboneServerRelay(needCreds().server);
      ready = { entry: await startHboneClientRelays(needCreds().client, hbonePort, spec.routes ?? {}), hbonePort };
      break;
    }
    default:
      throw new Error(`chain: unknown role ${String(spec.role)}`);
  }
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`chain: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
