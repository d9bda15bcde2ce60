// watchFolder over a tree: every atomic replacement of a file (write a temporary file, rename
// it over the old one, as `ambitctl local apply` does) is a change, however many times the
// same file is replaced, and so are files in subfolders created after the watch started.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../test/support/wait.js';
import { watchFolder } from './file-watch.js';

describe('watchFolder (recursive)', () => {
  let dir: string;
  let watcher: { close(): void } | undefined;
  let changes = 0;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-watch-'));
    changes = 0;
  });
  afterEach(async () => {
    watcher?.close();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Replaces `file` atomically, then waits until the watcher reported a change. */
  async function replace(file: string, text: string): Promise<void> {
    const before = changes;
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, file);
    await pollUntil(() => changes > before, { what: `a change for ${path.relative(dir, file)}`, timeoutMs: 10_000 });
  }

  it('reports each replacement of the same file, and files in a subfolder made later', async () => {
    await writeFile(path.join(dir, 'egress.yaml'), 'v: 0\n');
    const names: string[] = [];
    watcher = watchFolder(
      dir,
      { recursive: true, debounceMs: 5, accept: (n) => names.push(n) > 0 && !path.basename(n).startsWith('.') },
      () => changes++,
    );
    for (let i = 1; i <= 3; i++) await replace(path.join(dir, 'egress.yaml'), `v: ${i}\n`);
    await mkdir(path.join(dir, 'sub'));
    await pollUntil(() => names.includes('sub'), { what: 'the new subfolder', timeoutMs: 10_000 });
    for (let i = 1; i <= 2; i++) await replace(path.join(dir, 'sub', 'a.yaml'), `v: ${i}\n`);
    expect(names).toContain(path.join('sub', 'a.yaml'));
  });
});
