// Benchmark results in the shape of CONTRACT.md, "Benchmark results":
// {"bench", "machine": "<nproc> x <cpu model>", "date": "<ISO>", "rows": [{"case", <metric>: number}]}.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ResultRow {
  readonly case: string;
  readonly [metric: string]: number | string;
}

export interface BenchResults {
  readonly bench: string;
  readonly machine: string;
  readonly date: string;
  readonly rows: readonly ResultRow[];
}

/** "<nproc> x <cpu model>", e.g. "2 x AMD EPYC". */
export function machineDescription(): string {
  let model = cpus()[0]?.model?.trim();
  if (!model) {
    try {
      const line = readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('model name'));
      model = line?.split(':')[1]?.trim();
    } catch {
      /* not Linux */
    }
  }
  return `${availableParallelism()} x ${model || 'unknown cpu'}`;
}

/** bench/results/ in the source tree, whether running from bench/ (vitest) or dist/bench/. */
export function defaultResultsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // .../bench/common or .../dist/bench/common
  const benchDir = resolve(here, '..');
  const inDist = benchDir.split('/').slice(-2)[0] === 'dist';
  return inDist ? resolve(benchDir, '..', '..', 'bench', 'results') : join(benchDir, 'results');
}

export function buildResults(bench: string, rows: readonly ResultRow[], date = new Date()): BenchResults {
  if (!/^[a-z0-9-]+$/.test(bench)) throw new Error(`results: bench name must be [a-z0-9-]+, got "${bench}"`);
  for (const row of rows) {
    if (typeof row.case !== 'string' || row.case === '')
      throw new Error(`results: row without a case name in ${bench}`);
    for (const [k, v] of Object.entries(row)) {
      if (k !== 'case' && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw new Error(`results: ${bench}/${row.case}: metric ${k} is not a finite number (${String(v)})`);
      }
    }
  }
  return { bench, machine: machineDescription(), date: date.toISOString(), rows };
}

/** Writes `<dir>/<bench>.json` and returns its path. */
export function writeResults(results: BenchResults, dir = defaultResultsDir()): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${results.bench}.json`);
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
  return path;
}
