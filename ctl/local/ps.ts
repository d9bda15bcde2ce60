// `ambitctl local ps` and `ambitctl local restart UNIT [--surge]`: the processes a running
// `local up` supervises (pid, state, restarts, last exit) and a restart of one of them, through
// its control socket (control.ts). UNIT: controller, agent, waypoint/<ns>/<pod>, pod/<ns>/<pod>.
import path from 'node:path';
import type { Command } from 'commander';
import { AmbitError } from '../../core/errors.js';
import { CONTROL_SOCKET, controlRequest } from './control.js';
import { readRecord } from './state.js';
import type { UnitStatus } from './supervisor.js';

async function socketOf(stateDir: string): Promise<string> {
  if (!(await readRecord(stateDir)))
    throw new AmbitError('AMBIT_E_CONFIG', `no local mesh running from ${stateDir}`, {
      hint: 'start one with `ambitctl local up -f DIR` (or pass --state-dir)',
    });
  return path.join(stateDir, CONTROL_SOCKET);
}

export function formatUnits(units: readonly UnitStatus[]): string {
  const rows = units.map((u) => [
    u.name,
    String(u.pid > 0 ? u.pid : '-'),
    u.state,
    String(u.restarts),
    u.policy,
    u.lastExit ? `${u.lastExit.code ?? 'signal'} at ${u.lastExit.at}` : '-',
  ]);
  const head = ['UNIT', 'PID', 'STATE', 'RESTARTS', 'POLICY', 'LAST EXIT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function register(local: Command, defaults: { stateDir: string }): void {
  local
    .command('ps')
    .description('the processes local up supervises: pid, state, restarts, last exit')
    .option('--state-dir <dir>', 'state dir of the local mesh', defaults.stateDir)
    .action(async (opts: { stateDir: string }) => {
      console.log(formatUnits(await controlRequest<UnitStatus[]>(await socketOf(opts.stateDir), 'GET', '/units')));
    });
  local
    .command('restart')
    .description('restart one supervised process (--surge: the new one ready before the old one stops)')
    .argument('<unit>', 'controller, agent, waypoint/<ns>/<pod> or pod/<ns>/<pod> (see `local ps`)')
    .option('--surge', "start the new process first (the agent hands its pods' sockets over)")
    .option('--state-dir <dir>', 'state dir of the local mesh', defaults.stateDir)
    .action(async (unit: string, opts: { surge?: boolean; stateDir: string }) => {
      const u = await controlRequest<UnitStatus>(
        await socketOf(opts.stateDir),
        'POST',
        `/restart?unit=${encodeURIComponent(unit)}${opts.surge ? '&surge=1' : ''}`,
      );
      console.log(`${u.name} restarted: pid ${u.pid}, restarts ${u.restarts}`);
    });
}
