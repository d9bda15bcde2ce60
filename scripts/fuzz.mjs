#!/usr/bin/env node
// The long fuzz campaign: every `*.fuzz.test.ts` property with FUZZ_RUNS cases (default 10,000;
// `npm test` runs a few hundred). Usage:
//   npm run fuzz                         all properties, 10,000 cases each
//   npm run fuzz -- --runs 50000 der     more cases, only files whose path contains "der"
// A failure prints fast-check's seed and path; replay it with FUZZ_SEED=<seed> FUZZ_PATH=<path>.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', 'build', '.git']);

function findFuzzFiles(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) findFuzzFiles(full, out);
    else if (e.name.endsWith('.fuzz.test.ts')) out.push(relative(root, full));
  }
  return out;
}

const args = process.argv.slice(2);
let runs = 10_000;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else filters.push(args[i]);
}
if (!Number.isInteger(runs) || runs < 1) {
  console.error('fuzz: --runs needs a positive integer');
  process.exit(2);
}
const files = findFuzzFiles(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`fuzz: no *.fuzz.test.ts file matches ${filters.join(', ')}`);
  process.exit(2);
}
console.log(`fuzz: ${files.length} files, ${runs} cases per property`);
const vitest = join(root, 'node_modules', '.bin', 'vitest');
const result = spawnSync(vitest, ['run', '--testTimeout=0', '--hookTimeout=120000', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(runs) },
});
process.exit(result.status ?? 1);
