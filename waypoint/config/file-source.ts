// File mode: the WaypointConfig from a JSON or YAML file, re-read when it changes. A file
// that does not parse is reported and the last good config keeps serving.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { WaypointConfig } from '../../core/model/l7.js';
import type { WaypointConfigHandler, WaypointConfigSource } from '../../core/xds/waypoint-source.js';

export class FileWaypointSource implements WaypointConfigSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last = '';

  constructor(private readonly file: string, private readonly log: Logger) {}

  async start(onConfig: WaypointConfigHandler): Promise<void> {
    const load = async (): Promise<void> => {
      let text: string;
      try {
        text = await readFile(this.file, 'utf8');
      } catch (err) {
        this.log.error('cannot read waypoint config', { file: this.file, err: describeError(err) });
        return;
      }
      if (text === this.last) return;
      let config: WaypointConfig;
      try {
        config = parse(text) as WaypointConfig;
        if (!config || typeof config !== 'object' || !Array.isArray(config.virtualHosts) || !Array.isArray(config.clusters)) {
          throw new Error('expected a WaypointConfig with virtualHosts and clusters');
        }
      } catch (err) {
        this.log.error('waypoint config rejected; keeping the last good one', { file: this.file, err: describeError(err) });
        return;
      }
      this.last = text;
      onConfig(config, []);
    };
    await load();
    // Watch the folder: editors replace files, which ends a watch on the file itself.
    this.watcher = watch(path.dirname(this.file), (_event, name) => {
      if (name && name !== path.basename(this.file)) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void load(), 50);
    });
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
