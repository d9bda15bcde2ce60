// `ambitctl analyze -f FILE|DIR`: validate manifests with the controller's own translator.
// Exit 1 with one line per problem (`Kind/ns/name: field: reason (file:line)`), else exit 0.
// Besides what the translator rejects, references to unknown hosts and gateways count.
import type { Command } from 'commander';
import { readManifests } from '../controller/sources/file-read.js';
import type { ObjectOrigin } from '../controller/sources/types.js';
import { objectKey } from '../controller/sources/types.js';
import { formatRejection, translate } from '../controller/translate/index.js';
import { referenceProblems } from '../controller/translate/references.js';
import type { MeshConfig } from '../core/model/types.js';

export interface AnalyzeReport {
  readonly objects: number;
  readonly problems: readonly string[];
}

export async function analyzePaths(paths: readonly string[], mesh?: Partial<MeshConfig>): Promise<AnalyzeReport> {
  const problems: string[] = [];
  const objects = [];
  const origins = new Map<string, ObjectOrigin>();
  for (const path of paths) {
    let read;
    try {
      read = await readManifests(path);
    } catch (err) {
      problems.push(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
      continue;
    }
    problems.push(...read.problems.map((p) => p.message));
    for (const d of read.documents) {
      objects.push(d.object);
      origins.set(objectKey(d.object), d.origin);
    }
  }
  const result = translate(objects, { origins, ...(mesh ? { mesh } : {}) });
  problems.push(...result.rejected.map(formatRejection));
  problems.push(...referenceProblems(objects, result.snapshot, result.rejected, { origins }).map(formatRejection));
  return { objects: objects.length, problems };
}

/** Runs the analysis and prints it; returns the exit code. */
export async function runAnalyze(paths: readonly string[], opts: { mesh?: Partial<MeshConfig>; out?: (line: string) => void } = {}): Promise<number> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const report = await analyzePaths(paths, opts.mesh);
  for (const p of report.problems) out(p);
  if (report.problems.length > 0) return 1;
  out(`✔ no problems found (${report.objects} objects in ${paths.join(', ')})`);
  return 0;
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description('validate mesh manifests with the controller\'s translator; exit 1 and one line per problem')
    .requiredOption('-f, --filename <path...>', 'a YAML file or a folder of them (repeatable)')
    .option('--root-namespace <ns>', 'mesh root namespace', 'istio-system')
    .action(async (opts: { filename: string[]; rootNamespace: string }) => {
      process.exitCode = await runAnalyze(opts.filename, { mesh: { rootNamespace: opts.rootNamespace } });
    });
}
