// `ambitctl waypoint … --local DIR`: the same objects as in a cluster, written into the folder
// the local mesh's controller reads (file source). The Gateway goes into its own file
// `waypoint-<ns>-<name>.yaml`; the namespace label is set on the Namespace document already
// in the folder (edited in place, comments kept: with duplicates the file source keeps the
// first file's object, so a second Namespace would be ignored), or written beside the
// Gateway when the folder has none.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, parseAllDocuments, stringify, type Document } from 'yaml';
import { listManifestFiles } from '../controller/sources/file-read.js';
import { isAlive, readRecord } from './local/state.js';
import {
  WAYPOINT_LABELS,
  waypointGateway,
  type GatewayObject,
  type WaypointSummary,
  summarize,
} from './waypoint-objects.js';

export const localGatewayFile = (dir: string, namespace: string, name: string): string =>
  path.join(dir, `waypoint-${namespace}-${name}.yaml`);

interface FoundDoc {
  file: string;
  docs: Document[];
  doc: Document;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file); // the controller's watcher never reads half a file
}

async function loadAll(dir: string): Promise<Array<{ file: string; docs: Document[] }>> {
  const out: Array<{ file: string; docs: Document[] }> = [];
  for (const file of await listManifestFiles(dir)) {
    const docs = parseAllDocuments(await readFile(file, 'utf8'));
    if (Array.isArray(docs)) out.push({ file, docs: docs as Document[] });
  }
  return out;
}

function findNamespace(files: Array<{ file: string; docs: Document[] }>, namespace: string): FoundDoc | undefined {
  for (const f of files) {
    for (const doc of f.docs) {
      if (doc.get('kind') === 'Namespace' && doc.getIn(['metadata', 'name']) === namespace) return { ...f, doc };
    }
  }
  return undefined;
}

const render = (docs: Document[]): string => docs.map((d) => d.toString()).join('---\n');

/** Set (or, with `value` undefined, remove) the waypoint label of the folder's Namespace document. */
async function labelNamespace(found: FoundDoc, value: string | undefined, only?: string): Promise<boolean> {
  let changed = false;
  for (const key of WAYPOINT_LABELS) {
    const current = found.doc.getIn(['metadata', 'labels', key]);
    if (value === undefined) {
      if (current !== undefined && (only === undefined || current === only)) {
        found.doc.deleteIn(['metadata', 'labels', key]);
        changed = true;
      }
    } else if (key === WAYPOINT_LABELS[0] && current !== value) {
      if (!isMap(found.doc.getIn(['metadata', 'labels'])))
        found.doc.setIn(['metadata', 'labels'], found.doc.createNode({}));
      found.doc.setIn(['metadata', 'labels', key], value);
      changed = true;
    }
  }
  if (changed) await writeAtomic(found.file, render(found.docs));
  return changed;
}

/** Write the Gateway and label the namespace; returns the files written. */
export async function applyLocal(dir: string, namespace: string, name: string): Promise<string[]> {
  const gwFile = localGatewayFile(dir, namespace, name);
  const files = (await loadAll(dir)).filter((f) => f.file !== gwFile);
  const docs: object[] = [waypointGateway(namespace, name)];
  const ns = findNamespace(files, namespace);
  const written = [gwFile];
  if (ns) {
    if (await labelNamespace(ns, name)) written.push(ns.file);
  } else {
    docs.unshift({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { [WAYPOINT_LABELS[0]]: name } },
    });
  }
  const header = `# Written by \`ambitctl waypoint apply -n ${namespace} --name ${name} --local\`; removed by \`ambitctl waypoint delete\`.\n`;
  await writeAtomic(gwFile, header + docs.map((d) => stringify(d)).join('---\n'));
  return written;
}

/** Remove the Gateway file and the namespace label that points at it; returns the files changed. */
export async function deleteLocal(dir: string, namespace: string, name: string): Promise<string[]> {
  const gwFile = localGatewayFile(dir, namespace, name);
  const changed: string[] = [];
  const ns = findNamespace(
    (await loadAll(dir)).filter((f) => f.file !== gwFile),
    namespace,
  );
  if (ns && (await labelNamespace(ns, undefined, name))) changed.push(ns.file);
  try {
    await rm(gwFile);
    changed.push(gwFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return changed;
}

/**
 * `waypoint list --local [DIR]`: the folder's waypoints (DIR, else the running mesh's folder),
 * with the address and host admin/metrics port of those a running `local up` (its record in
 * `stateDir`) started.
 */
export async function listRunningLocal(dir: string | true, stateDir: string): Promise<WaypointSummary[]> {
  const record = await readRecord(path.resolve(stateDir)).catch(() => undefined);
  const folder = typeof dir === 'string' ? dir : record?.dir;
  if (!folder)
    throw new Error(
      `waypoint list --local: no local mesh is running from ${stateDir}; name its folder (--local DIR) or its --state-dir`,
    );
  const rows = await listLocal(folder);
  if (!record || record.dir !== path.resolve(folder) || !isAlive(record.pid)) return rows;
  return rows.map((r) => {
    const running = record.waypoints?.find((w) => w.namespace === r.namespace && w.name === r.name);
    return running ? { ...r, address: running.ip, programmed: 'True', admin: `127.0.0.1:${running.port}` } : r;
  });
}

/** Waypoint Gateways of the folder and the namespaces that use them. */
export async function listLocal(dir: string): Promise<WaypointSummary[]> {
  const objects = (await loadAll(dir))
    .flatMap((f) => f.docs.map((d) => d.toJS() as unknown))
    .filter((o): o is GatewayObject => !!o && typeof o === 'object');
  return summarize(objects);
}
