// `ambitctl profile list|dump|diff`: installation profiles as Helm values.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { diffValues, listProfiles, profileValues } from './chart/values.js';

function show(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

export function formatProfileDiff(a: string, b: string): string {
  const changes = diffValues(profileValues(a), profileValues(b));
  if (changes.length === 0) return `profiles ${a} and ${b} are the same\n`;
  const lines = changes.map((c) => `  ${c.path}: ${show(c.a)} -> ${show(c.b)}`);
  return `differences from ${a} to ${b} (${changes.length}):\n${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  const profile = program.command('profile').description('installation profiles (Helm values)');
  profile
    .command('list')
    .description('list the profiles')
    .action(() => {
      const profiles = listProfiles();
      const width = Math.max(...profiles.map((p) => p.name.length));
      for (const p of profiles) console.log(`${p.name.padEnd(width)}  ${p.description}`);
    });
  profile
    .command('dump <name>')
    .description("print a profile's full values")
    .action((name: string) => {
      process.stdout.write(stringify(profileValues(name)));
    });
  profile
    .command('diff <a> <b>')
    .description('print the values that differ between two profiles')
    .action((a: string, b: string) => {
      process.stdout.write(formatProfileDiff(a, b));
    });
}
