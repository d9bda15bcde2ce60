// `ambitctl manifest generate` prints the rendered chart; `ambitctl install` applies it.
import type { Command } from 'commander';
import { renderManifest, runTool, type RenderOptions } from './chart/render.js';

interface CliOptions {
  profile: string;
  set: string[];
  namespace: string;
  dryRun?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function toRender(opts: CliOptions): RenderOptions {
  return { profile: opts.profile, set: opts.set, namespace: opts.namespace };
}

function withRenderOptions(cmd: Command): Command {
  return cmd
    .option('--profile <name>', 'installation profile (ambitctl profile list)', 'default')
    .option('--set <key=value>', 'override a value, as helm --set (repeatable)', collect, [])
    .option('-n, --namespace <ns>', 'namespace of the control plane', 'ambit-system');
}

export function register(program: Command): void {
  const manifest = program.command('manifest').description('render the installation manifest');
  withRenderOptions(manifest.command('generate').description('print the manifest (same as helm template)')).action(
    async (opts: CliOptions) => {
      process.stdout.write(await renderManifest(toRender(opts)));
    },
  );

  withRenderOptions(program.command('install').description('render the chart and apply it with kubectl'))
    .option('--dry-run', 'print what would be applied, apply nothing')
    .action(async (opts: CliOptions) => {
      const rendered = await renderManifest(toRender(opts));
      if (opts.dryRun) {
        process.stdout.write(rendered);
        return;
      }
      await runTool('kubectl', ['create', 'namespace', opts.namespace]).catch(() => undefined);
      const out = await runTool('kubectl', ['apply', '--server-side', '--field-manager=ambitctl', '-f', '-'], rendered);
      process.stdout.write(out);
      console.log(`\nAmbit installed (profile ${opts.profile}). Next: kubectl label namespace NS mesh-mode=ambient`);
    });
}
