// `ambitctl version`: the CLI's version and, when reachable, the running components'.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ConfigDump } from '../core/admin/dump.js';

export function packageVersion(): string {
  // Works from ctl/ (sources under vitest) and from dist/ctl/ (built).
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'ambit' && pkg.version) return pkg.version;
    } catch {
      /* keep walking up */
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

async function componentVersion(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(500) });
    if (!res.ok) return `unreachable (HTTP ${res.status})`;
    const dump = (await res.json()) as Partial<ConfigDump>;
    return dump.version ?? 'running (version not reported)';
  } catch {
    return 'not running';
  }
}

export function register(program: Command): void {
  program
    .command('version')
    .description('versions of the CLI and of the running components')
    .option('--admin <addr>', 'agent admin address', '127.0.0.1:15000')
    .option('--short', 'print only the CLI version')
    .action(async (opts: { admin: string; short?: boolean }) => {
      console.log(`ambitctl ${packageVersion()}`);
      if (opts.short) return;
      console.log(`agent (${opts.admin}): ${await componentVersion(`http://${opts.admin}/config_dump`)}`);
    });
}
