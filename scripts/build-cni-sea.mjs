// Builds the CNI plugin as one executable (Node's single executable application), so a
// node needs no Node.js to run it: bundle dist/cni/main.js with esbuild into one CommonJS
// file, turn it into a SEA blob, and inject the blob into a copy of this node binary.
// Usage: node scripts/build-cni-sea.mjs [--out build/sea/ambit-cni] [--entry dist/cni/main.js]
// (--entry cni/main.ts bundles straight from the sources; esbuild maps `.js` imports to `.ts`.)
//
// What a SEA can run: one CommonJS script whose `require` reaches only Node's built-in
// modules, and no `import.meta`. The bundle is checked for both, so code that would break
// only inside the executable fails here instead; the result must answer CNI VERSION.
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : path.join(root, fallback);
};
const entry = arg('--entry', 'dist/cni/main.js');
const out = arg('--out', 'build/sea/ambit-cni');
const work = path.join(path.dirname(out), 'sea-work');
// The fuse string Node's SEA loader looks for (documented in Node's single-executable-applications page).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed with exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim()}`,
    );
  }
  return r;
}

if (!existsSync(entry)) throw new Error(`${entry} does not exist: run \`npm run build\` first`);
mkdirSync(work, { recursive: true });

const bundle = path.join(work, 'ambit-cni.cjs');
const result = await build({
  entryPoints: [entry],
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: bundle,
  metafile: true,
  // `import.meta` is empty in a CommonJS bundle: a module that finds files through it
  // would read the wrong place at run time, so refuse to build instead.
  logOverride: {
    'empty-import-meta': 'error',
    'unsupported-dynamic-import': 'error',
    'unsupported-require-call': 'error',
  },
  logLevel: 'warning',
});
// Anything left outside the bundle must be a Node built-in: a SEA cannot load files.
const externals = Object.values(result.metafile.outputs).flatMap((o) =>
  o.imports.filter((i) => i.external).map((i) => i.path),
);
const foreign = [...new Set(externals)].filter((p) => !isBuiltin(p));
if (foreign.length > 0)
  throw new Error(`the bundle needs modules a single executable cannot load: ${foreign.join(', ')}`);

const blob = path.join(work, 'ambit-cni.blob');
const config = path.join(work, 'sea-config.json');
writeFileSync(
  config,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }),
);
run(process.execPath, ['--experimental-sea-config', config]);

// Inject into a temporary copy, then rename: a half-written executable is never at `out`.
const partial = `${out}.partial-${process.pid}`;
copyFileSync(process.execPath, partial);
chmodSync(partial, 0o755);
try {
  const require = createRequire(import.meta.url);
  const postject = path.join(path.dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
  run(process.execPath, [postject, partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  // Smoke test without any Node.js on PATH: the executable must answer CNI VERSION.
  const version = run(partial, [], {
    input: '{"cniVersion":"1.0.0"}',
    env: { PATH: '/nonexistent', CNI_COMMAND: 'VERSION' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const answer = JSON.parse(version.stdout);
  if (!Array.isArray(answer.supportedVersions))
    throw new Error(`the executable answered VERSION with ${version.stdout}`);
  renameSync(partial, out);
} finally {
  rmSync(partial, { force: true });
}
console.log(`built ${out}`);
