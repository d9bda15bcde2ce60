// `ambit-cni install|uninstall`: the plugin executable into the CNI bin dir and our entry at
// the end of the node's primary conflist; both idempotent. The original conflist is kept
// next to it as <file>.ambit-orig (not a name runtimes load) so uninstall restores it byte
// for byte when nobody else changed the chain meanwhile.
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { chmod, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasPlugin, insertPlugin, primaryConfig, removePlugin, sameJson, PLUGIN_TYPE } from './conflist.js';

export const DEFAULT_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CONF_DIR = '/etc/cni/net.d';
export const BACKUP_SUFFIX = '.ambit-orig';

export interface InstallOptions {
  binDir: string;
  confDir: string;
  /** The executable's content (a launcher script or a bundled binary). */
  executable: Buffer;
  /** Extra fields of our conflist entry (e.g. agentSocket). */
  pluginConf?: Record<string, unknown>;
}

export interface InstallReport {
  binaryChanged: boolean;
  conflist?: string;
  conflistChanged: boolean;
}

/** Write a file atomically (temp + rename) unless it already has this content. */
async function writeIfDifferent(path: string, content: Buffer | string, mode?: number): Promise<boolean> {
  const current = await readFile(path).catch(() => undefined);
  const next = typeof content === 'string' ? Buffer.from(content) : content;
  if (current && current.equals(next)) return false;
  const tmp = `${path}.ambit-tmp-${process.pid}`;
  await writeFile(tmp, next, mode !== undefined ? { mode } : {});
  if (mode !== undefined) await chmod(tmp, mode);
  await rename(tmp, path);
  return true;
}

export async function installBinary(opts: Pick<InstallOptions, 'binDir' | 'executable'>): Promise<boolean> {
  return writeIfDifferent(join(opts.binDir, PLUGIN_TYPE), opts.executable, 0o755);
}

/** Insert our entry into the primary conflist; returns its name and whether it changed. */
export async function installConflist(
  opts: Pick<InstallOptions, 'confDir' | 'pluginConf'>,
): Promise<{ file: string; changed: boolean }> {
  const file = primaryConfig(await readdir(opts.confDir));
  if (!file) throw new Error(`no CNI network config in ${opts.confDir}; is the cluster network plugin installed?`);
  const path = join(opts.confDir, file);
  const text = await readFile(path, 'utf8');
  const edit = insertPlugin(text, { ...(opts.pluginConf ?? {}), type: PLUGIN_TYPE }, path);
  if (!edit.changed) return { file, changed: false };
  // Keep the original chain (without us) once, for an exact restore on uninstall.
  if (!hasPlugin(text)) await writeFile(path + BACKUP_SUFFIX, text);
  await writeIfDifferent(path, edit.text);
  return { file, changed: true };
}

export async function install(opts: InstallOptions): Promise<InstallReport> {
  const binaryChanged = await installBinary(opts);
  const { file, changed } = await installConflist(opts);
  return { binaryChanged, conflist: file, conflistChanged: changed };
}

/** Take our entry out of every conflist of the dir and remove the executable. */
export async function uninstall(opts: Pick<InstallOptions, 'binDir' | 'confDir'>): Promise<{ restored: string[] }> {
  const restored: string[] = [];
  for (const name of (await readdir(opts.confDir)).sort()) {
    const path = join(opts.confDir, name);
    if (name.endsWith(BACKUP_SUFFIX) || name.includes('.ambit-tmp-')) continue;
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined || !hasPlugin(text)) continue;
    const edit = removePlugin(text, path);
    const backup = await readFile(path + BACKUP_SUFFIX, 'utf8').catch(() => undefined);
    // The original bytes if the rest of the chain is unchanged since install; else just our entry out.
    await writeIfDifferent(path, backup !== undefined && sameJson(backup, edit.text) ? backup : edit.text);
    restored.push(name);
  }
  for (const name of await readdir(opts.confDir)) {
    if (name.endsWith(BACKUP_SUFFIX)) await rm(join(opts.confDir, name), { force: true });
  }
  await rm(join(opts.binDir, PLUGIN_TYPE), { force: true });
  return { restored };
}

/**
 * Keep our entry in the primary conflist: re-insert when another plugin (re)writes the conf
 * dir. Our own write triggers one more event, which finds nothing to change.
 */
export function watchConflist(
  opts: Pick<InstallOptions, 'confDir' | 'pluginConf'>,
  onChange: (r: { file?: string; changed: boolean; error?: Error }) => void,
): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const r = await installConflist(opts);
      if (r.changed) onChange(r);
    } catch (err) {
      onChange({ changed: false, error: err as Error });
    } finally {
      running = false;
      if (again) {
        again = false;
        void run();
      }
    }
  };
  const watcher: FSWatcher = fsWatch(opts.confDir, (_event, name) => {
    if (name && (String(name).endsWith(BACKUP_SUFFIX) || String(name).includes('.ambit-tmp-'))) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), 100);
  });
  void run();
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
