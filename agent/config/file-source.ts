// ConfigSource over one file (AMBIT_CONFIG_FILE): the mesh snapshot as JSON or YAML, reloaded
// when the file changes. A bad edit is logged with the field at fault and the last good
// snapshot keeps serving. The directory is watched (editors and `mv` replace the file).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigSource } from '../../core/config/source.js';
import { describeError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { parseSnapshotText } from './snapshot-file.js';

export interface FileConfigSourceOptions {
  log?: Logger;
  /** Coalesce bursts of file events (default 100 ms). */
  debounceMs?: number;
}

export class FileConfigSource implements ConfigSource {
  private readonly log: Logger;
  private readonly debounceMs: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastHash = '';
  private onSnapshot: ((s: MeshSnapshot) => readonly string[]) | undefined;
  private loading: Promise<void> = Promise.resolve();
  /** Problems of the last attempt (empty = the file is applied). */
  lastErrors: readonly string[] = [];

  constructor(readonly file: string, opts: FileConfigSourceOptions = {}) {
    this.log = opts.log ?? createLogger('config-file', { file });
    this.debounceMs = opts.debounceMs ?? 100;
  }

  /** Loads the file once (a bad first file rejects), then follows changes. */
  async start(onSnapshot: (snapshot: MeshSnapshot) => readonly string[]): Promise<void> {
    this.onSnapshot = onSnapshot;
    await this.load(true);
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    this.watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => { this.loading = this.loading.then(() => this.load(false)); }, this.debounceMs);
    });
    this.watcher.on('error', (err) => this.log.error('config file watch failed', { err: describeError(err) }));
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
    await this.loading;
  }

  /** Re-read now (tests, SIGHUP). */
  reload(): Promise<void> {
    this.loading = this.loading.then(() => this.load(false));
    return this.loading;
  }

  private async load(first: boolean): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      const msg = `cannot read ${this.file}: ${describeError(err)}`;
      if (first) throw new Error(msg, { cause: err });
      // Mid-rename or deleted: keep serving; the next event reloads.
      this.log.warn('config file unreadable; keeping the last good config', { err: msg });
      return;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.lastHash) return;
    let snapshot: MeshSnapshot;
    try {
      snapshot = parseSnapshotText(text, hash.slice(0, 12), this.file);
    } catch (err) {
      this.lastErrors = [describeError(err)];
      if (first) throw err;
      this.log.error('config rejected; keeping the last good config', { err: describeError(err) });
      return;
    }
    const problems = this.onSnapshot ? this.onSnapshot(snapshot) : [];
    this.lastErrors = problems;
    this.lastHash = hash;
    if (problems.length > 0) this.log.warn('config applied with problems', { version: snapshot.version, problems });
    else this.log.info('config applied', { version: snapshot.version });
  }
}
