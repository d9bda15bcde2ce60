// Structured JSON logs, one object per line, with a level. The level can be changed at run
// time (admin `POST /logging?level=`).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

interface Sink {
  write(line: string): unknown;
}

const state: { level: LogLevel; sink: Sink } = {
  level: parseLevel(process.env.AMBIT_LOG_LEVEL) ?? 'info',
  sink: process.stderr,
};

export function parseLevel(value: string | undefined): LogLevel | undefined {
  return value && value in ORDER ? (value as LogLevel) : undefined;
}

export function setLogLevel(level: LogLevel): void {
  state.level = level;
}
export function getLogLevel(): LogLevel {
  return state.level;
}
/** Redirect all loggers (tests capture lines this way). */
export function setLogSink(sink: Sink): void {
  state.sink = sink;
}

class JsonLogger implements Logger {
  constructor(private readonly base: LogFields) {}

  private emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (ORDER[level] < ORDER[state.level]) return;
    const record = { time: new Date().toISOString(), level, msg, ...this.base, ...fields };
    state.sink.write(JSON.stringify(record, errorReplacer) + '\n');
  }

  debug(msg: string, fields?: LogFields): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.emit('error', msg, fields);
  }
  child(fields: LogFields): Logger {
    return new JsonLogger({ ...this.base, ...fields });
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { message: value.message, ...(code ? { code } : {}) };
  }
  return value;
}

export function createLogger(component: string, fields: LogFields = {}): Logger {
  return new JsonLogger({ component, ...fields });
}
