// Parse one multi-document YAML file into Kubernetes objects with their origin (file, line).
// A document that does not parse is reported with its line; the other documents still count.
// Bounded against hostile input: alias expansion is capped (an alias bomb is one rejected
// document), duplicate keys are found in linear time (the yaml package's own uniqueKeys check
// is quadratic: a 40k-key map took tens of seconds), and nothing the parser throws escapes.
import { isMap, isScalar, LineCounter, parseAllDocuments, visit } from 'yaml';
import type { Document } from 'yaml';
import type { KubeObject, ObjectOrigin } from './types.js';

export interface ParsedDocument {
  readonly object: KubeObject;
  readonly origin: ObjectOrigin;
}
export interface ParseProblem {
  readonly message: string;
  readonly origin: ObjectOrigin;
}
export interface ParsedFile {
  readonly documents: ParsedDocument[];
  readonly problems: ParseProblem[];
}

/** Alias nodes one document may resolve (the yaml package's default, made explicit). */
export const MAX_ALIAS_COUNT = 100;

function isKubeObject(value: unknown): value is KubeObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const meta = v.metadata;
  return typeof v.apiVersion === 'string' && typeof v.kind === 'string' && meta !== null && typeof meta === 'object';
}

function isStringMap(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

/**
 * What the API server guarantees of every object's metadata and the translator relies on
 * (ObjectMeta): a non-empty string name, a string namespace, labels and annotations mapping
 * strings to strings. undefined when `obj` has that shape, else the field and the reason.
 * Null labels or annotations are removed from `obj` (absent, as kubectl reads them).
 */
export function metadataProblem(obj: KubeObject): string | undefined {
  const m = obj.metadata as unknown as Record<string, unknown>;
  if (Array.isArray(m)) return 'metadata must be a mapping';
  if (typeof m.name !== 'string' || m.name === '') return 'metadata.name must be a non-empty string';
  if (m.namespace !== undefined && (typeof m.namespace !== 'string' || m.namespace === ''))
    return 'metadata.namespace must be a non-empty string';
  for (const field of ['labels', 'annotations'] as const) {
    if (m[field] === null) delete m[field]; // `labels:` with nothing under it: none, as kubectl reads it
    if (m[field] !== undefined && !isStringMap(m[field])) {
      return `metadata.${field} must map strings to strings (quote numbers and booleans)`;
    }
  }
  return undefined;
}

/** Offset of the first repeated scalar key of any map in `doc`, if one is. */
function duplicateKeyOffset(doc: Document.Parsed): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return undefined;
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const id = `${typeof pair.key.value}:${String(pair.key.value)}`;
        if (seen.has(id)) {
          found = pair.key.range?.[0] ?? map.range?.[0] ?? 0;
          return visit.BREAK;
        }
        seen.add(id);
      }
      return undefined;
    },
  });
  return found;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? 'parse error';
}

export function parseYamlFile(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const documents: ParsedDocument[] = [];
  const problems: ParseProblem[] = [];
  let docs: Document.Parsed[] | Document.Parsed;
  try {
    docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  } catch (err) {
    // e.g. a stack overflow on absurd nesting: the whole file is unreadable, nothing escapes.
    return {
      documents,
      problems: [{ message: `${file}: YAML: ${firstLine(String((err as Error)?.message ?? err))}`, origin: { file } }],
    };
  }
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const start = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
    const docLine = lineCounter.linePos(start).line;
    if (doc.errors.length > 0) {
      const err = doc.errors[0];
      const line = err?.linePos?.[0]?.line ?? (err ? lineCounter.linePos(err.pos[0]).line : docLine);
      const where = line !== docLine ? ` (document starting at line ${docLine})` : '';
      problems.push({
        message: `${file}:${line}: YAML: ${firstLine(err?.message ?? 'parse error')}${where}`,
        origin: { file, line },
      });
      continue;
    }
    let value: unknown;
    try {
      const dup = duplicateKeyOffset(doc);
      if (dup !== undefined) {
        const line = lineCounter.linePos(dup).line;
        problems.push({ message: `${file}:${line}: YAML: Map keys must be unique`, origin: { file, line } });
        continue;
      }
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      // The yaml package throws on excessive aliasing ("resource exhaustion attack") and bad anchors.
      const why = firstLine(String((err as Error)?.message ?? err));
      const limit = /alias/i.test(why) ? ` (at most ${MAX_ALIAS_COUNT} aliases per document)` : '';
      problems.push({ message: `${file}:${docLine}: YAML: ${why}${limit}`, origin: { file, line: docLine } });
      continue;
    }
    if (value === null || value === undefined) continue; // empty document (comments, trailing ---)
    if (!isKubeObject(value)) {
      problems.push({
        message: `${file}:${docLine}: not a Kubernetes object (apiVersion, kind and metadata are required)`,
        origin: { file, line: docLine },
      });
      continue;
    }
    if (value.kind === 'List' && Array.isArray((value as Record<string, unknown>).items)) {
      for (const item of (value as Record<string, unknown>).items as unknown[]) {
        if (!isKubeObject(item)) continue;
        const problem = metadataProblem(item);
        if (problem)
          problems.push({ message: `${file}:${docLine}: ${item.kind}: ${problem}`, origin: { file, line: docLine } });
        else documents.push({ object: item, origin: { file, line: docLine } });
      }
      continue;
    }
    const problem = metadataProblem(value);
    if (problem) {
      problems.push({ message: `${file}:${docLine}: ${value.kind}: ${problem}`, origin: { file, line: docLine } });
      continue;
    }
    documents.push({ object: value, origin: { file, line: docLine } });
  }
  return { documents, problems };
}
