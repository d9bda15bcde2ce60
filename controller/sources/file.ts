// ObjectSource over a folder (or one file) of multi-document YAML, watched with fs.watch and
// a short debounce. A document that does not parse → an ERROR event with file and line, and
// the objects previously read from that file keep serving; a document that disappears from
// a cleanly parsed file (or a deleted file) → DELETED. Each file is read and parsed on its own
// (size-capped, see file-read.ts): one bad file never stops the others, and the scan yields to
// the event loop between files.
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { watchFolder } from '../../core/config/file-watch.js';
import { createLogger, type Logger } from '../../core/log.js';
import { parseYamlFile } from './file-parse.js';
import { isManifestFile, listManifestFiles, readManifestText, yieldToEventLoop } from './file-read.js';
import { objectKey, type KubeObject, type ObjectOrigin, type ObjectSource, type SourceEvent } from './types.js';

export interface FileSourceOptions {
  /** A folder (read recursively) or a single file. */
  readonly path: string;
  /** Coalesce bursts of file events (editors write several times). Default FILE_DEBOUNCE_MS. */
  readonly debounceMs?: number;
  readonly log?: Logger;
}

interface Entry {
  readonly object: KubeObject;
  readonly origin: ObjectOrigin;
  readonly json: string;
  /** The scan in which this file's definition of the object last changed (newest wins a key). */
  readonly seq: number;
}

export class FileSource implements ObjectSource {
  /** file → objectKey → entry */
  private readonly files = new Map<string, Map<string, Entry>>();
  /** What the consumer currently has, by objectKey. */
  private readonly served = new Map<string, Entry>();
  private watcher: { close(): void } | undefined;
  private onEvent: ((e: SourceEvent) => void) | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private stopped = false;
  private scans = 0;
  /** objectKey → the duplicate definition last reported, so each is logged once. */
  private readonly reportedDuplicates = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly opts: FileSourceOptions) {
    this.log = opts.log ?? createLogger('file-source');
  }

  async start(onEvent: (event: SourceEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    await this.rescan();
    onEvent({ type: 'SYNCED' });
    const info = await stat(this.opts.path);
    const target = info.isDirectory() ? this.opts.path : dirname(this.opts.path);
    this.watcher = watchFolder(
      target,
      {
        recursive: info.isDirectory(),
        persistent: true,
        accept: (name) => isManifestFile(name.split('/').pop() ?? ''),
        ...(this.opts.debounceMs !== undefined ? { debounceMs: this.opts.debounceMs } : {}),
        log: this.log,
      },
      () => {
        if (!this.stopped) void this.rescan();
      },
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    await this.scanning;
  }

  /** Re-read now (tests and `local apply` call this instead of waiting for the watcher). */
  refresh(): Promise<void> {
    return this.rescan();
  }

  private rescan(): Promise<void> {
    this.scanning = this.scanning
      .then(() => this.scanOnce())
      .catch((err: unknown) => {
        this.emit({ type: 'ERROR', message: `${this.opts.path}: ${String(err)}`, origin: { file: this.opts.path } });
      });
    return this.scanning;
  }

  private emit(e: SourceEvent): void {
    if (!this.stopped) this.onEvent?.(e);
  }

  private async scanOnce(): Promise<void> {
    if (this.stopped) return;
    const seq = ++this.scans;
    let present: string[];
    try {
      present = await listManifestFiles(this.opts.path);
    } catch (err) {
      // The folder itself vanished or is unreadable: keep serving what we have.
      this.emit({
        type: 'ERROR',
        message: `${this.opts.path}: ${(err as Error).message}`,
        origin: { file: this.opts.path },
      });
      return;
    }
    for (const file of [...this.files.keys()]) if (!present.includes(file)) this.files.delete(file);
    for (const file of present) {
      let text: string;
      try {
        text = await readManifestText(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.files.delete(file);
          continue;
        }
        const message = (err as Error).message.startsWith(file)
          ? (err as Error).message
          : `${file}: ${(err as Error).message}`;
        this.log.warn('manifest file rejected', { file, err: message });
        // The objects last read from this file keep serving.
        this.emit({ type: 'ERROR', message, origin: { file } });
        continue;
      }
      const parsed = parseYamlFile(text, file);
      await yieldToEventLoop();
      if (this.stopped) return;
      for (const p of parsed.problems) {
        this.log.warn('manifest rejected', { file: p.origin.file, line: p.origin.line, err: p.message });
        this.emit({ type: 'ERROR', message: p.message, origin: p.origin });
      }
      const previous = this.files.get(file);
      const next = new Map<string, Entry>();
      for (const d of parsed.documents) {
        const key = objectKey(d.object);
        const json = JSON.stringify(d.object);
        const before = previous?.get(key);
        next.set(key, { object: d.object, origin: d.origin, json, seq: before?.json === json ? before.seq : seq });
      }
      // With a broken document we cannot know which objects it held: keep the old ones.
      if (parsed.problems.length > 0 && previous) for (const [k, e] of previous) if (!next.has(k)) next.set(k, e);
      this.files.set(file, next);
    }
    this.publish();
  }

  /**
   * Diff the union of all files against what was served. An object defined by several files
   * is served from the one that changed it last, as `kubectl apply` would keep the last apply
   * (the files read at start tie: the first path in sorted order wins); the duplicate is logged.
   */
  private publish(): void {
    const wanted = new Map<string, Entry>();
    const definedIn = new Map<string, string[]>();
    for (const file of [...this.files.keys()].sort()) {
      for (const [k, e] of this.files.get(file) ?? []) {
        const best = wanted.get(k);
        if (best) definedIn.get(k)?.push(file);
        else definedIn.set(k, [file]);
        if (!best || e.seq > best.seq) wanted.set(k, e);
      }
    }
    this.reportDuplicates(wanted, definedIn);
    for (const [k, e] of this.served) {
      if (!wanted.has(k)) {
        this.served.delete(k);
        this.emit({ type: 'DELETED', object: e.object, origin: e.origin });
      }
    }
    for (const [k, e] of wanted) {
      const old = this.served.get(k);
      // The same object moved to another file: a change of origin (error messages name it).
      if (old && old.json === e.json && old.origin.file === e.origin.file) {
        this.served.set(k, e);
        continue;
      }
      this.served.set(k, e);
      this.emit({ type: old ? 'MODIFIED' : 'ADDED', object: e.object, origin: e.origin });
    }
  }

  private reportDuplicates(wanted: ReadonlyMap<string, Entry>, definedIn: ReadonlyMap<string, string[]>): void {
    for (const k of this.reportedDuplicates.keys())
      if ((definedIn.get(k)?.length ?? 0) < 2) this.reportedDuplicates.delete(k);
    for (const [k, files] of definedIn) {
      if (files.length < 2) continue;
      const servedFrom = wanted.get(k)?.origin.file ?? files[0]!;
      const note = `${files.join(',')}>${servedFrom}`;
      if (this.reportedDuplicates.get(k) === note) continue;
      this.reportedDuplicates.set(k, note);
      this.log.warn('object defined in several files; serving the definition changed last', {
        object: k,
        files,
        servedFrom,
      });
    }
  }
}
