// Parse one multi-document YAML file into Kubernetes objects with their origin (file, line).
// A document that does not parse is reported with its line; the other documents still count.
import { LineCounter, parseAllDocuments } from 'yaml';
import type { KubeObject, ObjectOrigin } from './types.js';

export interface ParsedDocument { readonly object: KubeObject; readonly origin: ObjectOrigin }
export interface ParseProblem { readonly message: string; readonly origin: ObjectOrigin }
export interface ParsedFile { readonly documents: ParsedDocument[]; readonly problems: ParseProblem[] }

function isKubeObject(value: unknown): value is KubeObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const meta = v.metadata;
  return typeof v.apiVersion === 'string' && typeof v.kind === 'string' && meta !== null && typeof meta === 'object';
}

export function parseYamlFile(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const documents: ParsedDocument[] = [];
  const problems: ParseProblem[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const start = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
    const docLine = lineCounter.linePos(start).line;
    if (doc.errors.length > 0) {
      const err = doc.errors[0];
      const line = err?.linePos?.[0]?.line ?? (err ? lineCounter.linePos(err.pos[0]).line : docLine);
      const where = line !== docLine ? ` (document starting at line ${docLine})` : '';
      problems.push({ message: `${file}:${line}: YAML: ${err?.message.split('\n')[0] ?? 'parse error'}${where}`, origin: { file, line } });
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // empty document (comments, trailing ---)
    if (!isKubeObject(value)) {
      problems.push({ message: `${file}:${docLine}: not a Kubernetes object (apiVersion, kind and metadata are required)`, origin: { file, line: docLine } });
      continue;
    }
    if (value.kind === 'List' && Array.isArray((value as Record<string, unknown>).items)) {
      for (const item of (value as Record<string, unknown>).items as unknown[]) {
        if (isKubeObject(item)) documents.push({ object: item, origin: { file, line: docLine } });
      }
      continue;
    }
    documents.push({ object: value, origin: { file, line: docLine } });
  }
  return { documents, problems };
}
