// `ambitctl analyze -f FILE|DIR`: Istio's configuration analyzers (controller/analyze) over
// manifests, with Istio's codes and levels. Output as istioctl's: one line per message, or
// `-o json|yaml` records. Exit 79 (istioctl's code) when a message reaches the failure
// threshold (Error by default), 1 when a file cannot be read or parsed, else 0.
import { InvalidArgumentError, type Command } from 'commander';
import { stringify } from 'yaml';
import { readManifests } from '../controller/sources/file-read.js';
import type { KubeObject, ObjectOrigin } from '../controller/sources/types.js';
import { objectKey } from '../controller/sources/types.js';
import {
  analyze,
  atLeast,
  formatMessage,
  isLevel,
  messageRecord,
  type Level,
  type Message,
} from '../controller/analyze/index.js';
import type { MeshConfig } from '../core/model/types.js';

export const EXIT_ISSUES_FOUND = 79;

export interface AnalyzeReport {
  readonly objects: number;
  /** Files that could not be read or parsed. */
  readonly readProblems: readonly string[];
  readonly messages: readonly Message[];
  /** Every read problem and message as one line, `Kind/ns/name: field: Level [CODE] text (file:line)`. */
  readonly problems: readonly string[];
}

function problemLine(m: Message): string {
  const o = m.origin;
  const key = objectKey({
    kind: o.kind,
    metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) },
  });
  const where = o.file ? ` (${o.file}${o.line ? `:${o.line}` : ''})` : '';
  return `${key}: ${m.field ? `${m.field}: ` : ''}${m.type.level} [${m.type.code}] ${m.text}${where}`;
}

export async function analyzePaths(paths: readonly string[], mesh?: Partial<MeshConfig>): Promise<AnalyzeReport> {
  const readProblems: string[] = [];
  const objects: KubeObject[] = [];
  const origins = new Map<string, ObjectOrigin>();
  for (const path of paths) {
    let read;
    try {
      read = await readManifests(path);
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      readProblems.push(`${path}: ${missing ? 'no such file or directory' : (err as Error).message}`);
      continue;
    }
    readProblems.push(...read.problems.map((p) => p.message));
    for (const d of read.documents) {
      objects.push(d.object);
      origins.set(objectKey(d.object), d.origin);
    }
  }
  const messages = analyze(objects, { origins, ...(mesh?.rootNamespace ? { rootNamespace: mesh.rootNamespace } : {}) });
  return { objects: objects.length, readProblems, messages, problems: [...readProblems, ...messages.map(problemLine)] };
}

export interface RunAnalyzeOptions {
  readonly mesh?: Partial<MeshConfig>;
  readonly out?: (line: string) => void;
  readonly output?: 'log' | 'json' | 'yaml';
  readonly failureThreshold?: Level;
  readonly outputThreshold?: Level;
}

/** Runs the analysis and prints it; returns the exit code. */
export async function runAnalyze(paths: readonly string[], opts: RunAnalyzeOptions = {}): Promise<number> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const report = await analyzePaths(paths, opts.mesh);
  const shown = report.messages.filter((m) => atLeast(m.type.level, opts.outputThreshold ?? 'Info'));
  const failed = report.messages.some((m) => atLeast(m.type.level, opts.failureThreshold ?? 'Error'));
  const output = opts.output ?? 'log';
  if (output === 'json') out(JSON.stringify(shown.map(messageRecord), null, 2));
  else if (output === 'yaml') out(shown.length > 0 ? stringify(shown.map(messageRecord)).trimEnd() : '[]');
  else {
    for (const p of report.readProblems) out(p);
    for (const m of shown) out(formatMessage(m));
    if (report.readProblems.length === 0 && shown.length === 0) {
      out(`✔ No validation issues found when analyzing ${paths.join(', ')} (${report.objects} objects).`);
    }
  }
  if (report.readProblems.length > 0) return 1;
  return failed ? EXIT_ISSUES_FOUND : 0;
}

function level(name: string): (v: string) => Level {
  return (v) => {
    if (!isLevel(v)) throw new InvalidArgumentError(`${name} must be Info, Warning or Error`);
    return v;
  };
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description("run Istio's configuration analyzers on mesh manifests (codes and levels as istioctl analyze)")
    .requiredOption('-f, --filename <path...>', 'a YAML file or a folder of them (repeatable)')
    .option('--root-namespace <ns>', 'mesh root namespace', 'istio-system')
    .option('-o, --output <format>', 'log, json or yaml', 'log')
    .option(
      '--failure-threshold <level>',
      'lowest level that makes the exit code non-zero',
      level('--failure-threshold'),
      'Error',
    )
    .option('--output-threshold <level>', 'lowest level printed', level('--output-threshold'), 'Info')
    .action(
      async (opts: {
        filename: string[];
        rootNamespace: string;
        output: string;
        failureThreshold: Level;
        outputThreshold: Level;
      }) => {
        if (opts.output !== 'log' && opts.output !== 'json' && opts.output !== 'yaml')
          throw new Error('--output must be log, json or yaml');
        process.exitCode = await runAnalyze(opts.filename, {
          mesh: { rootNamespace: opts.rootNamespace },
          output: opts.output,
          failureThreshold: opts.failureThreshold,
          outputThreshold: opts.outputThreshold,
        });
      },
    );
}
