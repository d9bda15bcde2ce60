// Test helpers: read testdata YAML into objects, parse inline YAML, translate.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseYamlFile } from '../../sources/file-parse.js';
import { readManifests } from '../../sources/file-read.js';
import type { KubeObject } from '../../sources/types.js';

export const TESTDATA = dirname(fileURLToPath(import.meta.url));

export async function loadTestdata(name: string): Promise<KubeObject[]> {
  const { documents, problems } = await readManifests(join(TESTDATA, name));
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('\n'));
  return documents.map((d) => d.object);
}

export function yamlObjects(text: string): KubeObject[] {
  const { documents, problems } = parseYamlFile(text, 'inline.yaml');
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('\n'));
  return documents.map((d) => d.object);
}
