// `local up` outliving its terminal: on SIGHUP (the terminal closed) the mesh keeps running
// until `local down`; logs move to a file, and writes to the vanished terminal (EIO, EPIPE)
// are dropped instead of crashing the process, so its later teardown still runs to the end.
import { createWriteStream } from 'node:fs';
import { setLogSink, type Logger } from '../../core/log.js';

let detached = false;

export function detachFromTerminal(logFile: string, log: Logger): void {
  if (detached) return;
  detached = true;
  for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);
  if (process.stdin.isTTY) {
    try {
      process.stdin.setRawMode(false);
    } catch {
      /* the terminal is gone */
    }
  }
  process.stdin.pause();
  process.stdin.on('error', () => undefined);
  setLogSink(createWriteStream(logFile, { flags: 'a' }));
  log.warn('the terminal closed (SIGHUP): the mesh keeps running; stop it with `ambitctl local down`', { logFile });
}

export const isDetached = (): boolean => detached;
