// ConfigSource over one file (AMBIT_CONFIG_FILE): the mesh snapshot as JSON or YAML, reloaded
// when the file changes (core/config/file-watch.ts: keep-last-good, a bad first file refused).
// A bad edit is logged with the field at fault and the last good snapshot keeps serving.
import { WatchedFile } from '../../core/config/file-watch.js';
import { createLogger, type Logger } from '../../core/log.js';
import type { MeshSnapshot } from '../../core/model/types.js';
import { parseSnapshotText } from './snapshot-file.js';

export interface FileConfigSourceOptions {
  log?: Logger;
  /** Coalesce bursts of file events (default FILE_DEBOUNCE_MS). */
  debounceMs?: number;
}

export class FileConfigSource extends WatchedFile<MeshSnapshot> {
  constructor(file: string, opts: FileConfigSourceOptions = {}) {
    super(file, (text, hash) => parseSnapshotText(text, hash.slice(0, 12), file), {
      log: opts.log ?? createLogger('config-file', { file }),
      ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
    });
  }
}
