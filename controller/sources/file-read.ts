// Read a YAML file or a folder of them (recursively, *.yaml / *.yml / *.json, sorted) into
// objects with origins: shared by the file source, `ambitctl analyze` and tests. Each file is
// read and parsed on its own: one oversize or broken file is a problem naming it, never an
// exception that stops the others.
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError } from '../../core/errors.js';
import { parseYamlFile, type ParsedDocument, type ParseProblem } from './file-parse.js';

/** Largest manifest file read (a Kubernetes object is at most ~1.5 MiB in etcd). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * The text of one manifest file, refused with AMBIT_E_CONFIG (naming the file) when it is larger
 * than `maxBytes`. Never reads more than maxBytes + one chunk, so a file that grows meanwhile is caught too.
 */
export async function readManifestText(file: string, maxBytes = MAX_MANIFEST_BYTES): Promise<string> {
  const tooBig = (what: string): AmbitError =>
    new AmbitError('AMBIT_E_CONFIG', `${file}: manifest file is ${what}, over the ${maxBytes}-byte limit`, {
      hint: 'split it into smaller files; a single Kubernetes object is at most about 1.5 MiB',
    });
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size > maxBytes) throw tooBig(`${size} bytes`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooBig(`more than ${maxBytes} bytes`);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Yield to the event loop between files, so a large folder never holds the controller (and its CA) for long. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

export function isManifestFile(name: string): boolean {
  return MANIFEST_EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.startsWith('.');
}

export async function listManifestFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (info.isFile()) return [path];
  const out: string[] = [];
  const entries = await readdir(path, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const full = join(path, e.name);
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...(await listManifestFiles(full)));
    else if (e.isFile() && isManifestFile(e.name)) out.push(full);
  }
  return out;
}

export async function readManifests(path: string): Promise<{ documents: ParsedDocument[]; problems: ParseProblem[] }> {
  const documents: ParsedDocument[] = [];
  const problems: ParseProblem[] = [];
  for (const file of await listManifestFiles(path)) {
    let text: string;
    try {
      text = await readManifestText(file);
    } catch (err) {
      problems.push({
        message: (err as Error).message.startsWith(file)
          ? (err as Error).message
          : `${file}: ${(err as Error).message}`,
        origin: { file },
      });
      continue;
    }
    const parsed = parseYamlFile(text, file);
    documents.push(...parsed.documents);
    problems.push(...parsed.problems);
    await yieldToEventLoop();
  }
  return { documents, problems };
}
