// Renders the chart with the real helm binary, so `ambitctl manifest generate` and
// `helm template -f profile.yaml --set …` are the same thing by construction.
import { spawn } from 'node:child_process';
import { chartDir, findTool } from './tools.js';
import { profilePath } from './values.js';

export interface RenderOptions {
  readonly profile?: string;
  readonly set?: readonly string[];
  readonly namespace?: string;
  readonly releaseName?: string;
  /** Include the CRDs (helm --include-crds). */
  readonly includeCrds?: boolean;
}

export function helmTemplateArgs(opts: RenderOptions): string[] {
  const args = ['template', opts.releaseName ?? 'ambit', chartDir(), '--namespace', opts.namespace ?? 'ambit-system'];
  if (opts.profile) args.push('-f', profilePath(opts.profile));
  for (const s of opts.set ?? []) args.push('--set', s);
  if (opts.includeCrds ?? true) args.push('--include-crds');
  return args;
}

export function runTool(tool: 'helm' | 'kubectl', args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(findTool(tool), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    // A tool that exits before reading its input must not crash ambitctl with EPIPE.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${tool} ${args[0]} failed (exit ${code}): ${Buffer.concat(err).toString('utf8').trim()}`));
    });
    child.stdin.end(input ?? '');
  });
}

export function renderManifest(opts: RenderOptions): Promise<string> {
  return runTool('helm', helmTemplateArgs(opts));
}
