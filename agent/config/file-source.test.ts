import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshSnapshot } from '../../core/model/types.js';
import { FileConfigSource } from './file-source.js';
import { pollUntil } from '../../test/support/wait.js';

const waitFor = <T>(get: () => T | undefined): Promise<T> => pollUntil(get, { timeoutMs: 5000, intervalMs: 50 });

describe('FileConfigSource', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('delivers the file, follows edits and renames, and keeps the last good snapshot on a bad edit', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-h3-fs-'));
    const file = path.join(dir, 'mesh.yaml');
    await writeFile(file, 'version: one\n');
    const seen: MeshSnapshot[] = [];
    const source = new FileConfigSource(file, { debounceMs: 20 });
    await source.start((s) => {
      seen.push(s);
      return [];
    });
    expect(seen.map((s) => s.version)).toEqual(['one']);

    await writeFile(file, 'version: two\n');
    await waitFor(() => (seen.length === 2 ? true : undefined));
    expect(seen[1]!.version).toBe('two');

    await writeFile(file, 'version: three\nworkloads: [{ name: a, namespace: n, ips: [bad] }]\n');
    await waitFor(() => (source.lastErrors.length > 0 ? true : undefined));
    expect(source.lastErrors[0]).toMatch(/workloads\[0\]\.ips\[0\]/);
    expect(seen).toHaveLength(2);

    // Editors replace files by rename; the directory watch sees it.
    await writeFile(path.join(dir, 'tmp'), 'version: four\n');
    await rename(path.join(dir, 'tmp'), file);
    await waitFor(() => (seen.length === 3 ? true : undefined));
    expect(seen[2]!.version).toBe('four');
    expect(source.lastErrors).toEqual([]);
    await source.stop();
  });

  it('rejects a bad first file with the reason', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-h3-fs-'));
    const file = path.join(dir, 'mesh.json');
    await writeFile(file, '{"services": [{"name": "s"}]}');
    const source = new FileConfigSource(file);
    await expect(source.start(() => [])).rejects.toThrow(/services\[0\]\.namespace/);
    await expect(new FileConfigSource(path.join(dir, 'missing.json')).start(() => [])).rejects.toThrow(/cannot read/);
    await source.stop();
  });
});
