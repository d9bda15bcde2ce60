#!/usr/bin/env node
// ambit-cni: the CNI plugin (CNI_COMMAND in the environment, config on stdin), or
// `ambit-cni install|uninstall …` to put it into the node's CNI configuration.
import { runCni } from './plugin/commands.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const sub = process.argv[2];
  if (sub === 'install' || sub === 'uninstall') {
    const { runInstallCli } = await import('./install/cli.js');
    process.exitCode = await runInstallCli(process.argv.slice(2));
    return;
  }
  const outcome = await runCni(process.env, await readStdin());
  process.stdout.write(outcome.stdout);
  process.exitCode = outcome.exitCode;
}

main().catch((err: unknown) => {
  // Last resort: still answer in CNI's error format.
  const msg = err instanceof Error ? err.message : String(err);
  process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', code: 5, msg: 'ambit-cni crashed', details: msg }) + '\n');
  process.exitCode = 1;
});
