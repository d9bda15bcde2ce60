// `ambitctl profile …` and `ambitctl manifest generate`, run through the real command tree.
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../ctl/program.js';
import { chartDir } from '../../ctl/chart/tools.js';
import { helm, parseManifest, validateAgainstKubernetes } from '../support/manifests.js';

async function ambitctl(...args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => { chunks.push(parts.join(' ') + '\n'); });
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'ambitctl', ...args]);
  } finally {
    write.mockRestore();
    log.mockRestore();
  }
  return chunks.join('');
}

describe('ambitctl profile and manifest', () => {
  afterEach(() => vi.restoreAllMocks());

  it('profile list names every profile with a description', async () => {
    const out = await ambitctl('profile', 'list');
    for (const name of ['default', 'demo', 'minimal', 'ambient', 'empty', 'preview']) expect(out).toMatch(new RegExp(`^${name}\\s+\\S`, 'm'));
  });

  it('profile diff demo default prints the differences', async () => {
    const out = await ambitctl('profile', 'diff', 'demo', 'default');
    expect(out).toContain('meshConfig.tracing.sampling: 100 -> 1');
    expect(out).toContain('gateways.egress.enabled: true -> false');
    expect(await ambitctl('profile', 'diff', 'default', 'default')).toMatch(/are the same/);
  });

  it('profile dump prints the merged values', async () => {
    const out = await ambitctl('profile', 'dump', 'minimal');
    expect(out).toMatch(/agent:\n\s+enabled: false/);
    expect(out).toMatch(/trustDomain: cluster.local/);
  });

  it('an unknown profile is a clear error', async () => {
    await expect(ambitctl('profile', 'dump', 'nope')).rejects.toThrow(/unknown profile "nope"; known profiles: .*default/);
  });

  it('manifest generate equals helm template for the same values', async () => {
    const ours = await ambitctl('manifest', 'generate', '--profile', 'demo', '--set', 'controller.replicas=3', '-n', 'mesh');
    const theirs = await helm(['template', 'ambit', chartDir(), '--namespace', 'mesh', '--include-crds',
      '-f', path.join(chartDir(), 'profiles', 'demo.yaml'), '--set', 'controller.replicas=3']);
    expect(ours).toBe(theirs);
    const controller = parseManifest(ours).find((o) => o.kind === 'Deployment' && o.metadata.name === 'ambit-controller');
    expect((controller?.spec as { replicas: number }).replicas).toBe(3);
  });

  it('the schema check catches a broken object', async () => {
    const [deployment] = parseManifest('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {}}\n');
    await expect(validateAgainstKubernetes(deployment!)).rejects.toThrow(/Deployment\/x: .*replicas/);
  });
});
