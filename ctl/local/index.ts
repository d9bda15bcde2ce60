// `ambitctl local …`: the whole mesh on this Linux machine, no Kubernetes (CONTRACT.md).
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { register as registerApply } from './apply.js';
import { register as registerDown } from './down.js';
import { register as registerExec } from './exec.js';
import { register as registerPs } from './ps.js';
import { DEFAULT_STATE_DIR } from './state.js';
import { register as registerUp } from './up-command.js';

export function register(program: Command): void {
  const local = program
    .command('local')
    .description('run the whole mesh on this machine: pods as processes in network namespaces');
  const defaults = { stateDir: process.env.AMBIT_LOCAL_STATE_DIR ?? DEFAULT_STATE_DIR, nodeName: hostname() };
  registerUp(local, defaults);
  registerExec(local, defaults);
  registerApply(local, defaults);
  registerDown(local, defaults);
  registerPs(local, defaults);
}
