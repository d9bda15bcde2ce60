// Bounds of the YAML file source against hostile manifests: an alias bomb or an oversize file
// is one rejected file (named in the error) while the other files still load and the bad file's
// last good objects keep serving; a 40k-key map parses in linear time.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from './file.js';
import { parseYamlFile } from './file-parse.js';
import { MAX_MANIFEST_BYTES, readManifests, readManifestText } from './file-read.js';
import type { SourceEvent } from './types.js';

const svc = (name: string, port = 80): string =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  ports: [{ name: http, port: ${port} }]\n`;

/** The classic "billion laughs": 9 levels of 9 aliases each (9^9 nodes once expanded). */
function aliasBomb(name: string): string {
  let text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: shop}\ndata:\n  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
  for (let i = 1; i < 10; i++) text += `  a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]\n`;
  return text;
}

function summary(e: SourceEvent): string {
  if (e.type === 'SYNCED') return 'SYNCED';
  if (e.type === 'ERROR') return `ERROR ${e.origin?.file?.split('/').pop()}`;
  return `${e.type} ${e.object.metadata.name}`;
}

describe('YAML bounds', () => {
  let dir: string;
  let source: FileSource | undefined;
  const events: SourceEvent[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-file-bounds-'));
    events.length = 0;
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects an alias bomb naming its file and line; the documents around it still count', () => {
    const parsed = parseYamlFile(`${svc('before')}---\n${aliasBomb('bomb')}---\n${svc('after')}`, 'bomb.yaml');
    expect(parsed.documents.map((d) => d.object.metadata.name)).toEqual(['before', 'after']);
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]!.message).toMatch(/^bomb\.yaml:9: YAML: .*alias/i);
  });

  it('an alias bomb file never stops the other files, and its last good objects keep serving', async () => {
    await writeFile(join(dir, 'a.yaml'), svc('a'));
    await writeFile(join(dir, 'm.yaml'), svc('m'));
    await writeFile(join(dir, 'z.yaml'), svc('z'));
    source = new FileSource({ path: dir, debounceMs: 600_000 }); // refresh() only: no watcher rescans
    await source.start((e) => events.push(e));
    events.length = 0;
    await writeFile(join(dir, 'm.yaml'), aliasBomb('m'));
    await writeFile(join(dir, 'z.yaml'), svc('z', 81));
    await source.refresh();
    expect(events.map(summary)).toEqual(['ERROR m.yaml', 'MODIFIED z']);
    const err = events[0];
    expect(err?.type === 'ERROR' && err.message).toMatch(/m\.yaml:\d+: YAML: .*alias/i);

    // A fresh start with the bomb already there: everything else loads.
    await source.stop();
    events.length = 0;
    source = new FileSource({ path: dir, debounceMs: 600_000 }); // refresh() only: no watcher rescans
    await source.start((e) => events.push(e));
    expect(events.map(summary)).toEqual(['ERROR m.yaml', 'ADDED a', 'ADDED z', 'SYNCED']);
  });

  it('rejects an oversize file with its name while the others load; its last good objects keep serving', async () => {
    await writeFile(join(dir, 'a.yaml'), svc('a'));
    await writeFile(join(dir, 'big.yaml'), svc('big'));
    source = new FileSource({ path: dir, debounceMs: 600_000 }); // refresh() only: no watcher rescans
    await source.start((e) => events.push(e));
    events.length = 0;
    await writeFile(join(dir, 'big.yaml'), `${svc('big', 99)}# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`);
    await writeFile(join(dir, 'a.yaml'), svc('a', 81));
    await source.refresh();
    expect(events.map(summary)).toEqual(['ERROR big.yaml', 'MODIFIED a']);
    const err = events[0];
    expect(err?.type === 'ERROR' && err.message).toMatch(
      /big\.yaml: manifest file is \d+ bytes, over the 4194304-byte limit/,
    );

    const read = await readManifests(dir);
    expect(read.documents.map((d) => d.object.metadata.name)).toEqual(['a']);
    expect(read.problems.map((p) => p.message)).toEqual([expect.stringMatching(/big\.yaml: manifest file is/)]);
    await expect(readManifestText(join(dir, 'a.yaml'), 10)).rejects.toMatchObject({ code: 'AMBIT_E_CONFIG' });
  });

  it('rejects metadata the API server would never produce, naming the field (found by the translator fuzz properties)', () => {
    const doc = (meta: string): string => `apiVersion: v1\nkind: Pod\nmetadata: ${meta}\n`;
    const parsed = parseYamlFile(
      [
        doc('{name: a, annotations: {ambit.io/pod-ip: .inf}}'),
        doc('{name: 5}'),
        doc('{name: c, labels: {app: [x]}}'),
        doc('{name: d, namespace: ""}'),
        doc('{name: ok, labels: null}'),
      ].join('---\n'),
      'm.yaml',
    );
    expect(parsed.problems.map((p) => p.message)).toEqual([
      'm.yaml:1: Pod: metadata.annotations must map strings to strings (quote numbers and booleans)',
      'm.yaml:5: Pod: metadata.name must be a non-empty string',
      'm.yaml:9: Pod: metadata.labels must map strings to strings (quote numbers and booleans)',
      'm.yaml:13: Pod: metadata.namespace must be a non-empty string',
    ]);
    expect(parsed.documents.map((d) => d.object.metadata)).toEqual([{ name: 'ok' }]);
  });

  it('parses a 40k-key map in linear time and still finds a duplicate key at its end', () => {
    const configMap = (keys: number): string => {
      let text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: shop}\ndata:\n';
      for (let i = 0; i < keys; i++) text += `  key${i}: value${i}\n`;
      return text;
    };
    // CPU time, not wall time: the machine may be shared. The yaml package's own uniqueKeys check
    // compares every pair (~30 s for 40k keys here, 16x the 10k figure); ours is linear.
    const cpuMs = (text: string): number => {
      const t0 = process.cpuUsage();
      const parsed = parseYamlFile(text, 'big.yaml');
      expect(parsed.problems).toEqual([]);
      const d = process.cpuUsage(t0);
      return (d.user + d.system) / 1000;
    };
    const smallText = configMap(10_000);
    const small = cpuMs(smallText);
    const large = cpuMs(configMap(40_000));
    expect(large).toBeLessThan(8_000);
    expect(large / small).toBeLessThan(10);
    const dup = parseYamlFile(`${smallText}  key7: again\n`, 'big.yaml');
    expect(dup.problems.map((p) => p.message)).toEqual(['big.yaml:10005: YAML: Map keys must be unique']);
  });
});
