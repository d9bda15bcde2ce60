// The one way a component follows files: fs.watch on the folder (editors and `mv` replace a
// file, which ends a watch on the file itself), bursts of events coalesced by one debounce,
// and for a single config file, keep-last-good: a file that does not decode is logged with
// the decoder's message and the last good value keeps serving; a bad first file is refused.
import { createHash } from 'node:crypto';
import { readdirSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { ConfigSource } from './source.js';

/** Editors write a file several times; events closer than this are one change. */
export const FILE_DEBOUNCE_MS = 50;

export interface WatchOptions {
  /** Watch a folder's subfolders too (where the platform supports it). */
  readonly recursive?: boolean;
  /** Only events for names this accepts count (null names, "something changed", always do). */
  readonly accept?: (name: string) => boolean;
  readonly debounceMs?: number;
  /** Keep the process open while watching (default false: the component's servers do that). */
  readonly persistent?: boolean;
  readonly log?: Logger;
}

/** Calls `onChange` (debounced) when something in folder `target` changes. */
export function watchFolder(target: string, opts: WatchOptions, onChange: () => void): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const listener = (_event: string, name: string | Buffer | null): void => {
    if (closed || (name !== null && opts.accept && !opts.accept(String(name)))) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) onChange();
    }, opts.debounceMs ?? FILE_DEBOUNCE_MS);
  };
  const onError = (err: Error): void => opts.log?.warn('file watch failed', { path: target, err: describeError(err) });
  let watcher: { close(): void };
  if (opts.recursive) watcher = watchTree(target, opts, listener, onError);
  else watcher = watch(target, { persistent: opts.persistent ?? false }, listener).on('error', onError);
  return {
    close: () => {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}

/**
 * A folder and its subfolders, one non-recursive watcher per folder (subfolders created later
 * are added). Not Node's `recursive: true`: on Linux it follows each file by its inode, so
 * once a file has been replaced by a rename (an atomic write, as `ambitctl local apply` does),
 * later replacements of that file raise no event at all. A folder's own watcher reports
 * every rename into it. Names passed on are relative to `root`.
 */
function watchTree(
  root: string,
  opts: WatchOptions,
  listener: (event: string, name: string | null) => void,
  onError: (err: Error) => void,
): { close(): void } {
  const folders = new Map<string, FSWatcher>();
  const add = (dir: string): void => {
    if (folders.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: opts.persistent ?? false }, (event, name) => {
        if (name === null) return listener(event, null);
        const full = path.join(dir, String(name));
        listener(event, path.relative(root, full));
        if (event === 'rename') {
          // A folder created, removed or replaced here: watch what is there now.
          drop(full);
          addTree(full);
        }
      });
    } catch (err) {
      if (dir === root) throw err;
      return; // a subfolder that went away before it could be watched
    }
    w.on('error', (err) => {
      w.close();
      folders.delete(dir);
      if (dir === root) onError(err);
    });
    folders.set(dir, w);
  };
  const drop = (dir: string): void => {
    for (const [d, w] of folders)
      if (d === dir || d.startsWith(dir + path.sep)) {
        w.close();
        folders.delete(d);
      }
  };
  const addTree = (dir: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // a file, or gone
    }
    add(dir);
    for (const e of entries) if (e.isDirectory()) addTree(path.join(dir, e.name));
  };
  add(root);
  addTree(root);
  return {
    close: () => {
      for (const w of folders.values()) w.close();
      folders.clear();
    },
  };
}

export interface WatchedFileOptions {
  readonly log?: Logger;
  readonly debounceMs?: number;
}

/**
 * A ConfigSource over one file. `decode(text, hash)` turns the text into the model or throws
 * an error naming the field; unchanged text (same hash) is not decoded again.
 */
export class WatchedFile<T> implements ConfigSource<T> {
  private readonly log: Logger;
  private watcher: { close(): void } | undefined;
  private lastHash = '';
  private onValue: ((value: T) => readonly string[]) | undefined;
  private loading: Promise<void> = Promise.resolve();
  /** Problems of the last attempt (empty = the file is applied). */
  lastErrors: readonly string[] = [];

  constructor(
    readonly file: string,
    private readonly decode: (text: string, hash: string) => T,
    private readonly opts: WatchedFileOptions = {},
  ) {
    this.log = opts.log ?? createLogger('config-file', { file });
  }

  /** Loads the file once (a bad or missing first file rejects), then follows changes. */
  async start(onValue: (value: T) => readonly string[]): Promise<void> {
    this.onValue = onValue;
    await this.load(true);
    const base = path.basename(this.file);
    this.watcher = watchFolder(
      path.dirname(this.file),
      { accept: (name) => name === base, debounceMs: this.opts.debounceMs, log: this.log },
      () => void this.reload(),
    );
  }

  async stop(): Promise<void> {
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
    let value: T;
    try {
      value = this.decode(text, hash);
    } catch (err) {
      this.lastErrors = [describeError(err)];
      if (first) throw err;
      this.log.error('config rejected; keeping the last good config', { err: describeError(err) });
      return;
    }
    const problems = this.onValue ? this.onValue(value) : [];
    this.lastErrors = problems;
    this.lastHash = hash;
    const version = (value as { version?: unknown }).version;
    if (problems.length > 0) this.log.warn('config applied with problems', { version, problems });
    else this.log.info('config applied', { version });
  }
}
