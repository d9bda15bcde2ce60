// ambitctl's command tree. Each subcommand lives in its own file and registers itself here.
import { Command } from 'commander';
import { register as registerAnalyze } from './analyze.js';
import { register as registerDashboard } from './dashboard/command.js';
import { register as registerLocal } from './local/index.js';
import { register as registerManifest } from './manifest.js';
import { register as registerProfile } from './profile.js';
import { register as registerProxyConfig } from './proxy-config.js';
import { packageVersion, register as registerVersion } from './version.js';
import { register as registerWaypoint } from './waypoint.js';

export function buildProgram(): Command {
  const program = new Command('ambitctl')
    .description('Ambit: a sidecar-less service mesh — operator CLI')
    .version(packageVersion(), '--cli-version')
    .showHelpAfterError();
  registerVersion(program);
  registerProfile(program);
  registerManifest(program);
  registerLocal(program);
  registerWaypoint(program);
  registerProxyConfig(program);
  registerAnalyze(program);
  registerDashboard(program);
  return program;
}
