// The head of an HTTP/1.1 response the waypoint's own server sends downstream, as one latin1
// string, with the framing it chose: Content-Length as given, else chunked (HTTP/1.1) or until
// close (HTTP/1.0); no body for HEAD, 1xx, 204 and 304. Names and values are checked as
// node:http checks them (a CR or LF would split the response): a bad one throws before
// anything is written. Connection and Date are added as node:http adds them.
import { STATUS_CODES } from 'node:http';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export class ResponseHeadError extends TypeError {
  readonly code: string;
  constructor(code: 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR' | 'ERR_HTTP_INVALID_STATUS_CODE', what: string) {
    super(`invalid ${what}`);
    this.code = code;
  }
}

export type HeaderValue = string | number | readonly string[] | undefined;

/** What the request says about the response's framing and the connection. */
export interface ResponseContext {
  readonly minor: 0 | 1;
  readonly head: boolean;
  /** The connection closes after this response (client asked, or the server is draining). */
  readonly close: boolean;
}

export interface ResponseFraming {
  readonly head: string;
  readonly body: 'none' | 'length' | 'chunked' | 'until-close';
  /** The connection closes once this response is sent. */
  readonly close: boolean;
}

const statusLines = new Map<number, string>();

function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    if (!Number.isInteger(status) || status < 100 || status > 999)
      throw new ResponseHeadError('ERR_HTTP_INVALID_STATUS_CODE', `status code ${status}`);
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    if (statusLines.size < 1000) statusLines.set(status, line);
  }
  return line;
}

let dateSecond = -1;
let dateField = '';

/** `date: <IMF-fixdate>\r\n`, made once per second. */
function dateLine(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateField;
}

/** Lines `name: value\r\n` for a field (several for an array); throws on a bad name or value. */
export function fieldLines(name: string, value: HeaderValue): string {
  if (!TOKEN.test(name)) throw new ResponseHeadError('ERR_INVALID_HTTP_TOKEN', `header name ${JSON.stringify(name)}`);
  if (value === undefined) return '';
  if (typeof value === 'string') {
    if (BAD_VALUE.test(value)) throw new ResponseHeadError('ERR_INVALID_CHAR', `value of ${name}`);
    return `${name}: ${value}\r\n`;
  }
  if (typeof value === 'number') return `${name}: ${value}\r\n`;
  let lines = '';
  for (const v of value) {
    if (BAD_VALUE.test(v)) throw new ResponseHeadError('ERR_INVALID_CHAR', `value of ${name}`);
    lines += `${name}: ${v}\r\n`;
  }
  return lines;
}

const KEEP_ALIVE = 'connection: keep-alive\r\nkeep-alive: timeout=60\r\n';
const CLOSE = 'connection: close\r\n';

export function responseHead(
  status: number,
  headers: Readonly<Record<string, HeaderValue>> | undefined,
  ctx: ResponseContext,
): ResponseFraming {
  let head = statusLine(status);
  let length = false;
  let date = false;
  let connection: string | undefined;
  let coding: string | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    head += fieldLines(name, value);
    // Only names of these lengths need a closer look (content-length, date, connection, transfer-encoding).
    const n = name.length;
    if (n !== 14 && n !== 4 && n !== 10 && n !== 17) continue;
    const key = name.toLowerCase();
    if (key === 'content-length') length = true;
    else if (key === 'date') date = true;
    else if (key === 'connection') connection = String(value);
    else if (key === 'transfer-encoding') coding = String(value);
  }
  let close = ctx.close || (connection !== undefined && /(?:^|,)\s*close\s*(?:,|$)/i.test(connection));
  let body: ResponseFraming['body'];
  if (ctx.head || status < 200 || status === 204 || status === 304) body = 'none';
  else if (length) body = 'length';
  else if (coding !== undefined) body = /(?:^|,)\s*chunked\s*$/i.test(coding) ? 'chunked' : 'until-close';
  else if (ctx.minor === 1) {
    body = 'chunked';
    head += 'transfer-encoding: chunked\r\n';
  } else body = 'until-close';
  if (body === 'until-close') close = true;
  if (connection === undefined) head += close ? CLOSE : KEEP_ALIVE;
  if (!date) head += dateLine();
  return { head: `${head}\r\n`, body, close };
}

/** The size line of one chunk of a chunked body. */
export function chunkLine(size: number): string {
  return `${size.toString(16)}\r\n`;
}
