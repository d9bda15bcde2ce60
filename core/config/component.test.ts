import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { runUntilSignalled } from './component.js';
import type { Logger } from '../log.js';

interface Line {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

function fakeLog(lines: Line[]): Logger {
  const log = {
    debug: (msg: string, fields?: Record<string, unknown>) => lines.push({ level: 'debug', msg, fields }),
    info: (msg: string, fields?: Record<string, unknown>) => lines.push({ level: 'info', msg, fields }),
    warn: (msg: string, fields?: Record<string, unknown>) => lines.push({ level: 'warn', msg, fields }),
    error: (msg: string, fields?: Record<string, unknown>) => lines.push({ level: 'error', msg, fields }),
    child: () => log,
  };
  return log as unknown as Logger;
}

function fakeHost(): { host: EventEmitter & { exit(code: number): void }; exits: number[] } {
  const exits: number[] = [];
  const host = Object.assign(new EventEmitter(), { exit: (code: number) => void exits.push(code) });
  return { host, exits };
}

describe('runUntilSignalled', () => {
  it('drains, then stops, then exits 0, once however many signals arrive', async () => {
    const calls: string[] = [];
    const lines: Line[] = [];
    const { host, exits } = fakeHost();
    let finishDrain!: () => void;
    const runtime = {
      drain: () => {
        calls.push('drain');
        return new Promise<void>((r) => (finishDrain = r));
      },
      stop: async () => void calls.push('stop'),
    };
    const { stopped } = runUntilSignalled(runtime, fakeLog(lines), { host });
    host.emit('SIGTERM');
    host.emit('SIGINT');
    host.emit('SIGTERM');
    expect(calls).toEqual(['drain']);
    finishDrain();
    await stopped;
    expect(calls).toEqual(['drain', 'stop']);
    expect(exits).toEqual([0]);
    expect(lines.filter((l) => l.level === 'info')).toEqual([
      { level: 'info', msg: 'shutting down', fields: { signal: 'SIGTERM' } },
    ]);
  });

  it('logs a failure with err and exits with the configured code', async () => {
    const lines: Line[] = [];
    const { host, exits } = fakeHost();
    const calls: string[] = [];
    const runtime = {
      drain: async () => {
        calls.push('drain');
        throw new Error('boom');
      },
      stop: async () => void calls.push('stop'),
    };
    const { stopped } = runUntilSignalled(runtime, fakeLog(lines), {
      host,
      stoppingMessage: 'stopping',
      failedMessage: 'stop failed',
      failedExitCode: 3,
    });
    host.emit('SIGINT');
    await stopped;
    expect(calls).toEqual(['drain']);
    expect(exits).toEqual([3]);
    expect(lines[0]).toEqual({ level: 'info', msg: 'stopping', fields: { signal: 'SIGINT' } });
    expect(lines[1]?.msg).toBe('stop failed');
    expect(lines[1]?.fields?.err).toBeDefined();
  });
});
