// File mode: the WaypointConfig from a JSON or YAML file, re-read when it changes
// (core/config/file-watch.ts). The file goes through the same check as a config received
// over discovery; a bad file is reported and the last good config keeps serving, and a bad
// first file stops the start (the waypoint never serves without a config it understood).
import { WatchedFile } from '../../core/config/file-watch.js';
import { parseJsonOrYaml } from '../../core/config/json-or-yaml.js';
import { AmbitError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { decodeWaypointConfig } from '../../core/model/decode-waypoint-config.js';
import type { WaypointConfig } from '../../core/model/l7.js';
import type { WaypointConfigHandler, WaypointConfigSource } from '../../core/xds/waypoint-source.js';

/** The file's text as a WaypointConfig, or an AMBIT_E_CONFIG naming the file and field. */
export function decodeWaypointConfigFile(text: string, file: string): WaypointConfig {
  const fail = (reason: string, cause: unknown): never => {
    throw new AmbitError('AMBIT_E_CONFIG', `${file}: ${reason}`, {
      hint: 'fix the waypoint config file; the waypoint keeps the last good config',
      cause,
    });
  };
  let doc: unknown;
  try {
    doc = parseJsonOrYaml(text);
  } catch (err) {
    return fail(`not JSON or YAML: ${(err as Error).message}`, err);
  }
  try {
    return decodeWaypointConfig(doc);
  } catch (err) {
    return fail((err as Error).message, err);
  }
}

export class FileWaypointSource implements WaypointConfigSource {
  private readonly watched: WatchedFile<WaypointConfig>;

  constructor(
    readonly file: string,
    log: Logger,
    opts: { debounceMs?: number } = {},
  ) {
    this.watched = new WatchedFile(file, (text) => decodeWaypointConfigFile(text, file), { log, ...opts });
  }

  /** Problems of the last attempt (empty = the file is applied). */
  get lastErrors(): readonly string[] {
    return this.watched.lastErrors;
  }

  start(onConfig: WaypointConfigHandler): Promise<void> {
    return this.watched.start((config) => onConfig(config, []));
  }

  reload(): Promise<void> {
    return this.watched.reload();
  }

  stop(): Promise<void> {
    return this.watched.stop();
  }
}
