// A binary's entry point bundled with esbuild as it is deployed: one ESM file for node20, npm
// packages external (resolved from the repo's node_modules). Suites run bundles as processes,
// so they test the sources without a build.
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT as REPO } from './repo.js';

/** Bundle `entry` (relative to the repo) into `outfile`. */
export async function bundleEntry(entry: string, outfile: string): Promise<void> {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(REPO, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'silent',
    packages: 'external',
    absWorkingDir: REPO,
  });
}

/**
 * Bundle `entry` into a fresh folder under node_modules (so its packages resolve); returns the
 * file. The caller removes its folder.
 */
export async function bundleMain(entry: string, tag: string): Promise<string> {
  const dir = await mkdtemp(path.join(REPO, 'node_modules', `.ambit-test-${tag}-`));
  const outfile = path.join(dir, `${tag}.mjs`);
  await bundleEntry(entry, outfile);
  return outfile;
}
