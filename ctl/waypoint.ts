// `ambitctl waypoint apply -n NS [--name N]` / `waypoint list` / `waypoint delete -n NS`:
// opt a namespace into a waypoint. In a cluster (kubectl, current context) it applies the
// Gateway of class `ambit-waypoint` (the controller then creates its Deployment and Service)
// and labels the namespace `mesh-waypoint=<name>`; with `--local DIR` it writes the same
// objects into the folder the local mesh reads.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { runTool } from './chart/render.js';
import { applyLocal, deleteLocal, listRunningLocal } from './waypoint-local.js';
import { DEFAULT_STATE_DIR } from './local/state.js';
import {
  checkName,
  DEFAULT_WAYPOINT_NAME,
  formatTable,
  summarize,
  waypointGateway,
  WAYPOINT_LABELS,
  type GatewayObject,
} from './waypoint-objects.js';

const GATEWAYS = 'gateways.gateway.networking.k8s.io';

interface Out {
  out: (text: string) => void;
}
const stdout: Out = { out: (t) => process.stdout.write(t) };

export async function applyKube(namespace: string, name: string, io: Out = stdout): Promise<void> {
  io.out(await runTool('kubectl', ['apply', '-f', '-'], stringify(waypointGateway(namespace, name))));
  // Label after the Gateway exists, so the namespace never points at a missing waypoint.
  io.out(await runTool('kubectl', ['label', 'namespace', namespace, `${WAYPOINT_LABELS[0]}=${name}`, '--overwrite']));
}

async function getJson<T>(args: string[]): Promise<T> {
  const text = await runTool('kubectl', ['get', ...args, '-o', 'json']);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`kubectl get ${args.join(' ')} did not print JSON: ${text.slice(0, 200)}`);
  }
}

export async function deleteKube(namespace: string, name: string, io: Out = stdout): Promise<void> {
  // Unlabel first: traffic stops going to the waypoint before it goes away.
  const ns = await getJson<GatewayObject>(['namespace', namespace]);
  const labels = WAYPOINT_LABELS.filter((l) => ns.metadata?.labels?.[l] === name);
  if (labels.length > 0)
    io.out(await runTool('kubectl', ['label', 'namespace', namespace, ...labels.map((l) => `${l}-`)]));
  io.out(await runTool('kubectl', ['delete', GATEWAYS, name, '-n', namespace, '--ignore-not-found']));
}

export async function listKube(namespace?: string): Promise<ReturnType<typeof summarize>> {
  const gws = await getJson<{ items?: GatewayObject[] }>([GATEWAYS, ...(namespace ? ['-n', namespace] : ['-A'])]);
  const nss = await getJson<{ items?: GatewayObject[] }>(['namespaces']);
  const objects = [
    ...(gws.items ?? []).map((g) => ({ kind: 'Gateway', ...g })),
    ...(nss.items ?? []).map((n) => ({ ...n, kind: 'Namespace' })),
  ];
  return summarize(objects);
}

interface WaypointOptions {
  namespace?: string;
  name: string;
  local?: string;
  output?: string;
}

function namespaceOf(opts: WaypointOptions): string {
  if (!opts.namespace) throw new Error('waypoint: -n/--namespace is required');
  return checkName('--namespace', opts.namespace);
}

export function register(program: Command): void {
  const waypoint = program.command('waypoint').description('opt a namespace into a waypoint (L7 policy and routing)');
  const common = (cmd: Command): Command =>
    cmd
      .option('-n, --namespace <ns>', 'the namespace')
      .option('--name <name>', "the waypoint Gateway's name", DEFAULT_WAYPOINT_NAME)
      .option('--local <dir>', 'write into the folder of an `ambitctl local` mesh instead of the cluster');

  common(waypoint.command('apply').description('create the waypoint Gateway and label the namespace to use it')).action(
    async (opts: WaypointOptions) => {
      const ns = namespaceOf(opts);
      const name = checkName('--name', opts.name);
      if (opts.local) {
        const files = await applyLocal(opts.local, ns, name);
        process.stdout.write(`waypoint ${ns}/${name} written: ${files.join(', ')}\n`);
        return;
      }
      await applyKube(ns, name);
      process.stdout.write(`waypoint ${ns}/${name} applied; namespace ${ns} labelled ${WAYPOINT_LABELS[0]}=${name}\n`);
    },
  );

  common(waypoint.command('delete').description('remove the namespace label and the waypoint Gateway')).action(
    async (opts: WaypointOptions) => {
      const ns = namespaceOf(opts);
      const name = checkName('--name', opts.name);
      if (opts.local) {
        const files = await deleteLocal(opts.local, ns, name);
        process.stdout.write(
          files.length > 0
            ? `waypoint ${ns}/${name} removed: ${files.join(', ')}\n`
            : `no waypoint ${ns}/${name} in ${opts.local}\n`,
        );
        return;
      }
      await deleteKube(ns, name);
      process.stdout.write(`waypoint ${ns}/${name} deleted\n`);
    },
  );

  waypoint
    .command('list')
    .description('waypoint Gateways and the namespaces that use them')
    .option('-n, --namespace <ns>', 'only this namespace')
    .option(
      '--local [dir]',
      "the folder of an `ambitctl local` mesh (default: the running one's); a running mesh adds the address and admin/metrics port of each waypoint",
    )
    .option(
      '--state-dir <dir>',
      'with --local: state dir of the running local mesh',
      process.env.AMBIT_LOCAL_STATE_DIR ?? DEFAULT_STATE_DIR,
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: Omit<WaypointOptions, 'name' | 'local'> & { local?: string | true; stateDir: string }) => {
      const ns = opts.namespace ? checkName('--namespace', opts.namespace) : undefined;
      const all = opts.local ? await listRunningLocal(opts.local, opts.stateDir) : await listKube(ns);
      const rows = all.filter((r) => !ns || r.namespace === ns);
      if (opts.output === 'json') process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else if (opts.output === 'table' || !opts.output) process.stdout.write(formatTable(rows));
      else throw new Error(`waypoint list: -o must be table or json (got ${opts.output})`);
    });
}
