import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from './file.js';
import { parseYamlFile } from './file-parse.js';
import type { SourceEvent } from './types.js';
import { pollUntil } from '../../test/support/wait.js';

const svc = (name: string, port = 80): string => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
spec:
  ports: [{ name: http, port: ${port} }]
`;

function summary(e: SourceEvent): string {
  if (e.type === 'SYNCED') return 'SYNCED';
  if (e.type === 'ERROR') return `ERROR ${e.origin?.file?.split('/').pop()}:${e.origin?.line}`;
  return `${e.type} ${e.object.metadata.name}`;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  await pollUntil(cond, { what, timeoutMs: 4000, intervalMs: 10 });
}

describe('parseYamlFile', () => {
  it('gives each document its line and reports a broken document with its line', () => {
    const text = `${svc('a')}---\n${svc('b')}---\nkind: [unclosed\n---\n${svc('c')}`;
    const parsed = parseYamlFile(text, 'x.yaml');
    expect(parsed.documents.map((d) => [d.object.metadata.name, d.origin.line])).toEqual([
      ['a', 1],
      ['b', 9],
      ['c', 19],
    ]);
    expect(parsed.problems).toHaveLength(1);
    const line = parsed.problems[0]?.origin.line ?? 0;
    // the broken document spans lines 17-18; YAML notices the unclosed [ at its end
    expect(line === 17 || line === 18).toBe(true);
    expect(parsed.problems[0]?.message).toMatch(new RegExp(`^x\\.yaml:${line}: YAML: .*`));
  });

  it('rejects documents that are not Kubernetes objects and skips empty ones', () => {
    const parsed = parseYamlFile('# just a comment\n---\nfoo: bar\n---\n', 'y.yaml');
    expect(parsed.documents).toEqual([]);
    expect(parsed.problems.map((p) => p.message)).toEqual([
      'y.yaml:3: not a Kubernetes object (apiVersion, kind and metadata are required)',
    ]);
  });

  it('reports duplicate keys', () => {
    const parsed = parseYamlFile('apiVersion: v1\nkind: Service\nkind: Pod\nmetadata: {name: a}\n', 'z.yaml');
    expect(parsed.problems[0]?.origin.line).toBe(3);
  });
});

describe('FileSource', () => {
  let dir: string;
  let source: FileSource | undefined;
  const events: SourceEvent[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-file-source-'));
    events.length = 0;
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the folder recursively, then SYNCED', async () => {
    await writeFile(join(dir, 'a.yaml'), `${svc('a')}---\n${svc('b')}`);
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'c.yml'), svc('c'));
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    source = new FileSource({ path: dir });
    await source.start((e) => events.push(e));
    expect(events.map(summary)).toEqual(['ADDED a', 'ADDED b', 'ADDED c', 'SYNCED']);
    const first = events[0];
    expect(first?.type === 'ADDED' && first.origin).toEqual({ file: join(dir, 'a.yaml'), line: 1 });
  });

  it('emits MODIFIED only for changed objects and DELETED when a document disappears', async () => {
    await writeFile(join(dir, 'a.yaml'), `${svc('a')}---\n${svc('b')}`);
    source = new FileSource({ path: dir });
    await source.start((e) => events.push(e));
    events.length = 0;
    await writeFile(join(dir, 'a.yaml'), svc('a', 81));
    await source.refresh();
    expect(events.map(summary)).toEqual(['DELETED b', 'MODIFIED a']);
  });

  it('keeps serving the previous objects of a file with a broken document, and reports file:line', async () => {
    await writeFile(join(dir, 'a.yaml'), `${svc('a')}---\n${svc('b')}`);
    source = new FileSource({ path: dir });
    await source.start((e) => events.push(e));
    events.length = 0;
    await writeFile(join(dir, 'a.yaml'), `${svc('a', 82)}---\nspec: {ports: [\n`);
    await source.refresh();
    // the broken document starts at line 9; the unclosed [ is noticed at the end of input
    expect(events.map(summary)).toEqual(['ERROR a.yaml:10', 'MODIFIED a']);
    const err = events[0];
    expect(err?.type === 'ERROR' && err.message).toMatch(/a\.yaml:10: YAML: .*\(document starting at line 9\)/);
    events.length = 0;
    // fixed file without b: now b really is gone
    await writeFile(join(dir, 'a.yaml'), svc('a', 82));
    await source.refresh();
    expect(events.map(summary)).toEqual(['DELETED b']);
  });

  it('notices changes through fs.watch (debounced) and deleted files', async () => {
    await writeFile(join(dir, 'a.yaml'), svc('a'));
    source = new FileSource({ path: dir, debounceMs: 20 });
    await source.start((e) => events.push(e));
    events.length = 0;
    await writeFile(join(dir, 'b.yaml'), svc('b'));
    await until(() => events.some((e) => summary(e) === 'ADDED b'), 'ADDED b');
    await unlink(join(dir, 'a.yaml'));
    await until(() => events.some((e) => summary(e) === 'DELETED a'), 'DELETED a');
    expect(events.map(summary)).toEqual(['ADDED b', 'DELETED a']);
  });

  it('an object defined in two files survives the deletion of one of them', async () => {
    await writeFile(join(dir, 'a.yaml'), svc('x', 80));
    await writeFile(join(dir, 'b.yaml'), svc('x', 90));
    source = new FileSource({ path: dir });
    await source.start((e) => events.push(e));
    events.length = 0;
    await unlink(join(dir, 'a.yaml'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED x']);
    const ev = events[0];
    expect(ev?.type === 'MODIFIED' && (ev.object.spec as { ports: { port: number }[] }).ports[0]?.port).toBe(90);
  });
});
