// `ambitctl local apply -f FILE|DIR` / `local delete -f …`: change a running local mesh's
// config. The objects are upserted into (or removed from) the folder the controller watches,
// as `kubectl apply/delete` would; the controller picks the change up. Services keep the VIP
// pinned at `local up` (so the pods' /etc/hosts stay right). Pods and Deployments are not
// started or stopped by apply/delete: restart `local up` for those.
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseYamlFile } from '../../controller/sources/file-parse.js';
import { readManifests } from '../../controller/sources/file-read.js';
import { objectKey, type KubeObject } from '../../controller/sources/types.js';
import { AmbitError } from '../../core/errors.js';
import { isWaypointGateway } from '../../core/mesh/vocabulary.js';
import { readRecord, type LocalRecord } from './state.js';

const WORKLOAD_KINDS = new Set(['Pod', 'Deployment']);

async function configFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /\.(ya?ml|json)$/.test(e.name) && !e.name.startsWith('.'))
      out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

async function writeObjects(file: string, objects: readonly KubeObject[]): Promise<void> {
  if (objects.length === 0) {
    await rm(file, { force: true });
    return;
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(tmp, objects.map((o) => stringify(o)).join('---\n'));
  await rename(tmp, file);
}

/** The objects of a config file, none when it does not exist. */
async function objectsOf(file: string): Promise<KubeObject[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return parseYamlFile(text, file).documents.map((d) => d.object);
}

/** Rewrites every config file but `except` without the given keys; returns how many objects went. */
async function removeKeys(record: LocalRecord, keys: ReadonlySet<string>, except?: string): Promise<number> {
  let removed = 0;
  for (const file of await configFiles(record.configDir)) {
    if (file === except) continue;
    const objects = await objectsOf(file);
    const rest = objects.filter((o) => !keys.has(objectKey(o)));
    removed += objects.length - rest.length;
    if (rest.length !== objects.length) await writeObjects(file, rest);
  }
  return removed;
}

async function readInput(paths: readonly string[]): Promise<Array<{ file: string; objects: KubeObject[] }>> {
  const out: Array<{ file: string; objects: KubeObject[] }> = [];
  for (const p of paths) {
    const read = await readManifests(path.resolve(p)).catch((err: NodeJS.ErrnoException) => {
      throw new AmbitError(
        'AMBIT_E_CONFIG',
        `${p}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
      );
    });
    if (read.problems.length > 0)
      throw new AmbitError('AMBIT_E_CONFIG', read.problems.map((x) => x.message).join('; '));
    const byFile = new Map<string, KubeObject[]>();
    for (const d of read.documents)
      byFile.set(d.origin.file ?? p, [...(byFile.get(d.origin.file ?? p) ?? []), d.object]);
    for (const [file, objects] of byFile) out.push({ file, objects });
  }
  return out;
}

async function recordOf(stateDir: string): Promise<LocalRecord> {
  const record = await readRecord(stateDir);
  if (!record)
    throw new AmbitError('AMBIT_E_CONFIG', `no local mesh running from ${stateDir}`, {
      hint: 'start one with `ambitctl local up -f DIR` (or pass --state-dir)',
    });
  return record;
}

function pinVip(record: LocalRecord, o: KubeObject): KubeObject {
  if (o.kind !== 'Service') return o;
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const vip = record.serviceVips.find(
    (s) => s.namespace === (o.metadata.namespace ?? 'default') && s.name === o.metadata.name,
  )?.vips[0];
  return vip && !spec.clusterIP ? { ...o, spec: { ...spec, clusterIP: vip } } : o;
}

export async function localApply(
  stateDir: string,
  paths: readonly string[],
  out: (line: string) => void = console.log,
): Promise<void> {
  const record = await recordOf(stateDir);
  for (const { file, objects } of await readInput(paths)) {
    const skipped = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
    for (const o of skipped)
      out(`${objectKey(o)}: skipped (pods are started by \`local up\`; restart it to add or change pods)`);
    const mesh = objects.filter((o) => !WORKLOAD_KINDS.has(o.kind)).map((o) => pinVip(record, o));
    if (mesh.length === 0) continue;
    const target = path.join(record.configDir, path.basename(file));
    // The new definition is written before the old ones go, so the controller never sees the
    // object missing (it serves the definition changed last while both exist).
    const keys = new Set(mesh.map(objectKey));
    const kept = (await objectsOf(target)).filter((o) => !keys.has(objectKey(o)));
    await writeObjects(target, [...kept, ...mesh]);
    await removeKeys(record, keys, target);
    for (const o of mesh) out(`${objectKey(o)} configured`);
    for (const o of mesh.filter((x) => isNewWaypoint(record, x))) {
      out(`${objectKey(o)}: its waypoint pod is started by \`local up\` only: restart it to run this waypoint`);
    }
  }
}

function isNewWaypoint(record: LocalRecord, o: KubeObject): boolean {
  if (!isWaypointGateway(o)) return false;
  return !(record.waypoints ?? []).some(
    (w) => w.namespace === (o.metadata.namespace ?? 'default') && w.name === o.metadata.name,
  );
}

export async function localDelete(
  stateDir: string,
  paths: readonly string[],
  out: (line: string) => void = console.log,
): Promise<void> {
  const record = await recordOf(stateDir);
  for (const { objects } of await readInput(paths)) {
    const mesh = objects.filter((o) => !WORKLOAD_KINDS.has(o.kind));
    for (const o of objects.filter((x) => WORKLOAD_KINDS.has(x.kind)))
      out(`${objectKey(o)}: skipped (pods stop with \`local up\`)`);
    const removed = await removeKeys(record, new Set(mesh.map(objectKey)));
    out(removed > 0 ? `${mesh.map(objectKey).join(', ')} deleted` : `${mesh.map(objectKey).join(', ')}: not found`);
  }
}

export function register(local: Command, defaults: { stateDir: string }): void {
  local
    .command('apply')
    .description('add or change objects of the running local mesh (the controller picks them up)')
    .requiredOption('-f, --filename <path...>', 'a YAML file or a folder of them')
    .option('--state-dir <dir>', 'state dir of the local mesh', defaults.stateDir)
    .action(async (opts: { filename: string[]; stateDir: string }) => {
      await localApply(opts.stateDir, opts.filename);
    });
  local
    .command('delete')
    .description('remove the objects of FILE from the running local mesh')
    .requiredOption('-f, --filename <path...>', 'a YAML file or a folder of them')
    .option('--state-dir <dir>', 'state dir of the local mesh', defaults.stateDir)
    .action(async (opts: { filename: string[]; stateDir: string }) => {
      await localDelete(opts.stateDir, opts.filename);
    });
}
