// Read a YAML file or a folder of them (recursively, *.yaml / *.yml / *.json, sorted) into
// objects with origins: shared by the file source, `ambitctl analyze` and tests.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseYamlFile, type ParsedDocument, type ParseProblem } from './file-parse.js';

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
    const parsed = parseYamlFile(await readFile(file, 'utf8'), file);
    documents.push(...parsed.documents);
    problems.push(...parsed.problems);
  }
  return { documents, problems };
}
