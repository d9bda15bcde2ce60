// `ambit-cni install [--bin-dir D] [--conf-dir D] [--agent-socket P] [--plugin FILE] [--watch]`
// `ambit-cni uninstall [--bin-dir D] [--conf-dir D]`   (flags declared in settings.ts)
import { readFile, realpath } from 'node:fs/promises';
import { isSea } from 'node:sea';
import { createLogger } from '../../core/log.js';
import { install, uninstall, watchConflist } from './install.js';
import { readInstallerSettings } from './settings.js';
import { inClusterEndpoint, untaintWhenAgentReady } from './node-taint.js';

/** A launcher that runs this very plugin with this Node binary; a single executable copies itself. */
async function launcher(): Promise<Buffer> {
  if (isSea()) return readFile(process.execPath);
  const main = await realpath(process.argv[1] ?? '');
  return Buffer.from(`#!/bin/sh\nexec "${process.execPath}" "${main}" "$@"\n`);
}

export async function runInstallCli(argv: string[]): Promise<number> {
  const log = createLogger('ambit-cni-install');
  const sub = argv[0] ?? '';
  let settings: ReturnType<typeof readInstallerSettings>;
  try {
    settings = readInstallerSettings(argv, process.env);
  } catch (err) {
    process.stderr.write(`ambit-cni ${sub}: ${(err as Error).message}\n`);
    return 2;
  }
  const { binDir, confDir } = settings;
  try {
    if (sub === 'uninstall') {
      const r = await uninstall({ binDir, confDir });
      log.info('ambit-cni uninstalled', { binDir, confDir, restored: r.restored });
      return 0;
    }
    const pluginConf = settings.agentSocket ? { agentSocket: settings.agentSocket } : {};
    const executable = settings.plugin ? await readFile(settings.plugin) : await launcher();
    const r = await install({ binDir, confDir, executable, pluginConf });
    log.info('ambit-cni installed', { binDir, confDir, ...r });
    if (!settings.watch) return 0;
    const w = watchConflist({ confDir, pluginConf }, (ev) => {
      if (ev.error) log.error('cannot re-insert ambit-cni', { err: ev.error.message });
      else log.info('re-inserted ambit-cni into the conflist', { file: ev.file });
    });
    const untaint = new AbortController();
    if (settings.nodeTaint) {
      const { nodeTaint: key, nodeName: node, kubernetesServiceHost: host, agentSocket } = settings;
      if (!node || !host || !agentSocket)
        throw new Error('--node-taint needs AMBIT_NODE_NAME, KUBERNETES_SERVICE_HOST and --agent-socket');
      const api = () => inClusterEndpoint(host, settings.kubernetesServicePort);
      void untaintWhenAgentReady({ api, node, key, agentSocket, log, signal: untaint.signal });
    }
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        untaint.abort();
        w.close();
        resolve();
      };
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
