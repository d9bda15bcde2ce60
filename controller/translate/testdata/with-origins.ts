// Test helper: translate the routing tests' MESH plus one document, read as `ambitctl` and the
// controller read a file (each object with its file:line origin).
import { expect } from 'vitest';
import { translate, type TranslateResult } from '../index.js';
import { parseYamlFile } from '../../sources/file-parse.js';
import { objectKey } from '../../sources/types.js';
import { MESH } from './mesh.js';

/** The result, and the line of the document's `apiVersion:` (after MESH and the `---` separator). */
export function translateAfterMesh(doc: string, file: string): { result: TranslateResult; line: number } {
  const { documents, problems } = parseYamlFile(`${MESH}---\n${doc}`, file);
  expect(problems).toEqual([]);
  const origins = new Map(documents.map((d) => [objectKey(d.object), d.origin] as const));
  const result = translate(
    documents.map((d) => d.object),
    { origins },
  );
  return { result, line: MESH.split('\n').length + 1 };
}
