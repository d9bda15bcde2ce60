// Builds the CNI plugin as one executable (Node's single executable application), so a
// node needs no Node.js to run it: bundle dist/cni/main.js with esbuild into one CommonJS
// file, turn it into a SEA blob, and inject the blob into a copy of this node binary.
// Usage: node scripts/build-cni-sea.mjs [--out build/sea/ambit-cni] [--entry dist/cni/main.js]
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit ${r.status}`);
}

if (!existsSync(entry)) throw new Error(`${entry} does not exist: run \`npm run build\` first`);
mkdirSync(work, { recursive: true });

const bundle = path.join(work, 'ambit-cni.cjs');
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: bundle,
  // import.meta.url has no meaning in the bundle; the plugin locates nothing by it.
  define: { 'import.meta.url': '"file:///ambit-cni"' },
  logLevel: 'warning',
});

const blob = path.join(work, 'ambit-cni.blob');
const config = path.join(work, 'sea-config.json');
writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }));
run(process.execPath, ['--experimental-sea-config', config]);

copyFileSync(process.execPath, out);
chmodSync(out, 0o755);
const require = createRequire(import.meta.url);
const postject = path.join(path.dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
run(process.execPath, [postject, out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2']);
console.log(`built ${out}`);
