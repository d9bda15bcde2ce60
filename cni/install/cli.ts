// `ambit-cni install [--bin-dir D] [--conf-dir D] [--agent-socket P] [--plugin FILE] [--watch]`
// `ambit-cni uninstall [--bin-dir D] [--conf-dir D]`
import { readFile, realpath } from 'node:fs/promises';
import { isSea } from 'node:sea';
import { parseArgs } from 'node:util';
import { createLogger } from '../../core/log.js';
import { DEFAULT_BIN_DIR, DEFAULT_CONF_DIR, install, uninstall, watchConflist } from './install.js';

/** A launcher that runs this very plugin with this Node binary; a single executable copies itself. */
async function launcher(): Promise<Buffer> {
  if (isSea()) return readFile(process.execPath);
  const main = await realpath(process.argv[1] ?? '');
  return Buffer.from(`#!/bin/sh\nexec "${process.execPath}" "${main}" "$@"\n`);
}

export async function runInstallCli(argv: string[]): Promise<number> {
  const log = createLogger('ambit-cni-install');
  const [sub, ...rest] = argv;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        'bin-dir': { type: 'string' }, 'conf-dir': { type: 'string' }, 'agent-socket': { type: 'string' },
        plugin: { type: 'string' }, watch: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`ambit-cni ${sub}: ${(err as Error).message}\n`);
    return 2;
  }
  const binDir = (values['bin-dir'] as string | undefined) ?? DEFAULT_BIN_DIR;
  const confDir = (values['conf-dir'] as string | undefined) ?? DEFAULT_CONF_DIR;
  try {
    if (sub === 'uninstall') {
      const r = await uninstall({ binDir, confDir });
      log.info('ambit-cni uninstalled', { binDir, confDir, restored: r.restored });
      return 0;
    }
    const socket = values['agent-socket'] as string | undefined;
    const pluginConf = socket ? { agentSocket: socket } : {};
    const executable = values.plugin ? await readFile(values.plugin as string) : await launcher();
    const r = await install({ binDir, confDir, executable, pluginConf });
    log.info('ambit-cni installed', { binDir, confDir, ...r });
    if (!values.watch) return 0;
    const w = watchConflist({ confDir, pluginConf }, (ev) => {
      if (ev.error) log.error('cannot re-insert ambit-cni', { err: ev.error.message });
      else log.info('re-inserted ambit-cni into the conflist', { file: ev.file });
    });
    await new Promise<void>((resolve) => {
      const stop = (): void => { w.close(); resolve(); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  } catch (err) {
    log.error(`ambit-cni ${sub} failed`, { err: (err as Error).message });
    process.stderr.write(`ambit-cni ${sub}: ${(err as Error).message}\n`);
    return 1;
  }
}
