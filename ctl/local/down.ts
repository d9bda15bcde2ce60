// `ambitctl local down`: tear down a local mesh left behind (a crashed or killed `local up`).
import type { Command } from 'commander';
import { AmbitError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import { rmSync } from 'node:fs';
import { etcScratchDir, insideUserNamespace } from './rootless.js';
import { isAlive, readRecord } from './state.js';
import { tearDown } from './teardown.js';

export async function localDown(stateDir: string): Promise<number> {
  const log = createLogger('ambitctl-local');
  const record = await readRecord(stateDir);
  if (!record) {
    log.info('nothing to tear down', { stateDir });
    return 0;
  }
  if (record.pid !== process.pid && isAlive(record.pid)) {
    // A live `local up` tears down itself, in order, on SIGTERM.
    process.kill(record.pid, 'SIGTERM');
    for (let i = 0; i < 300 && isAlive(record.pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(record.pid))
      throw new AmbitError('AMBIT_E_TIMEOUT', `local up (pid ${record.pid}) did not stop within 30 s`, {
        hint: 'kill it, then run `ambitctl local down` again',
      });
    if (!(await readRecord(stateDir))) {
      log.info('local up stopped and cleaned up', { pid: record.pid });
      return 0;
    }
  }
  const networkGone = record.userns !== undefined && !insideUserNamespace();
  const problems = await tearDown(record, log, { networkGone });
  if (networkGone) rmSync(etcScratchDir(record.stateDir), { recursive: true, force: true });
  log.info('torn down', { stateDir, pods: record.planned.length, problems });
  return problems.length > 0 ? 1 : 0;
}

export function register(local: Command, defaults: { stateDir: string }): void {
  local
    .command('down')
    .description('tear down a local mesh left behind (processes, netns, veths, bridge, /etc/netns files, state)')
    .option('--state-dir <dir>', 'state dir of the local mesh', defaults.stateDir)
    .action(async (opts: { stateDir: string }) => {
      process.exitCode = await localDown(opts.stateDir);
    });
}
