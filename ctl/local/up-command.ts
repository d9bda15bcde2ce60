// `ambitctl local up -f DIR [--state-dir D] [--live]` (flags for running several side by side:
// --bridge, --pod-cidr, --netns-prefix, --port-offset).
import path from 'node:path';
import type { Command } from 'commander';
import { describeError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import { insideUserNamespace, needsUserNamespace, runUpInUserNamespace } from './rootless.js';
import { portsFor } from './state.js';
import { planLocal } from './plan.js';
import { localUp, type UpOptions } from './up.js';
import { waypointHostPort } from './waypoints.js';
import { ingressHostPorts } from './gateways.js';

interface Flags {
  filename: string;
  stateDir: string;
  bridge: string;
  podCidr: string;
  netnsPrefix: string;
  portOffset: string;
  nodeName: string;
  live?: boolean;
  rate: string;
}

export function register(local: Command, defaults: { stateDir: string; nodeName: string }): void {
  local
    .command('up')
    .description(
      'start the controller, the agent and every Pod/Deployment of DIR in its own network namespace; `ready` on stdout; Ctrl-C tears it all down',
    )
    .requiredOption('-f, --filename <dir>', 'folder (or file) of manifests')
    .option('--state-dir <dir>', 'where the local mesh keeps its config, logs and teardown record', defaults.stateDir)
    .option('--bridge <name>', 'Linux bridge of the pod network', 'ambit0')
    .option('--pod-cidr <cidr>', 'pod network (the bridge takes the first address)', '10.244.0.0/16')
    .option('--netns-prefix <prefix>', 'network namespace names: <prefix><namespace>-<pod>', 'ambit-')
    .option(
      '--port-offset <n>',
      'added to every node-level port (15000, 15012, 15020, …) to run two meshes side by side',
      '0',
    )
    .option('--node-name <name>', "this machine's node name", defaults.nodeName)
    .option('--live', 'run a traffic generator and a live terminal view (npm start)')
    .option('--rate <rps>', 'with --live: requests per second of the traffic generator', '20')
    .action(async (f: Flags) => {
      const offset = Number(f.portOffset);
      if (!Number.isInteger(offset) || offset < 0 || offset > 40000)
        throw new Error(`--port-offset: "${f.portOffset}" is not a small non-negative integer`);
      const opts: UpOptions = {
        dir: f.filename,
        stateDir: f.stateDir,
        bridge: f.bridge,
        podCidr: f.podCidr,
        netnsPrefix: f.netnsPrefix,
        portOffset: offset,
        nodeName: f.nodeName,
      };
      if (f.live) {
        const { generatorPod, generatorTargets, startLive } = await import('./live.js');
        const rate = Number(f.rate);
        if (!(rate > 0 && rate <= 1000))
          throw new Error(`--rate: "${f.rate}" must be between 0 and 1000 requests per second`);
        const gen = await generatorTargets(f.filename);
        if (gen) opts.extraObjects = [generatorPod(gen.namespace, gen.targets, path.resolve(f.stateDir), rate)];
        opts.onReady = (mesh) => startLive(mesh, { rate });
        // The dashboard beside the live view, served from the outer process (a rootless mesh's ports are forwarded to it).
        if (!insideUserNamespace()) {
          const { DEFAULT_PORT, startDashboard } = await import('../dashboard/server.js');
          await startDashboard({ port: DEFAULT_PORT + offset, stateDir: f.stateDir }).catch((err: unknown) =>
            createLogger('ambitctl-local').warn('dashboard not started', { err: describeError(err) }),
          );
        }
      }
      try {
        if (needsUserNamespace()) {
          const planned = (await planLocal(f.filename, { podCidr: f.podCidr })).pods;
          const waypoints = planned.filter((p) => p.waypoint);
          const extra = [...waypoints.map((_, i) => waypointHostPort(offset, i)), ...ingressHostPorts(planned, offset)];
          process.exitCode = await runUpInUserNamespace(
            process.argv.slice(1),
            path.resolve(f.stateDir),
            portsFor(offset),
            createLogger('ambitctl-local'),
            extra,
          );
          process.exit();
        }
        process.exitCode = await localUp(opts);
      } catch (err) {
        createLogger('ambitctl-local').error('local up failed', { err: describeError(err) });
        process.exitCode = 1;
      }
      process.exit();
    });
}
