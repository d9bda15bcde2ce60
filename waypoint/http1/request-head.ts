// The head of an HTTP/1.1 request the waypoint sends upstream, as one Buffer. Values are
// checked as node:http checks them (a header value or path with CR/LF would split the request):
// a bad one throws, and the attempt fails like any other upstream error.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_PATH = /[^\u0021-\u00ff]/;
const BAD_AUTHORITY = /[^\u0021-\u007e]/;

/** Methods whose request without a body carries no Content-Length (as node:http sends them). */
const NO_LENGTH_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Fields the head writes itself from the body it sends, never copied from the request. */
const FRAMING = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  /** A stream of a declared length, copied as is. */
  | { kind: 'stream-length'; length: string }
  | { kind: 'chunked' };

export class RequestHeadError extends Error {
  readonly code = 'AMBIT_E_UPSTREAM_REQUEST';
  constructor(what: string) {
    super(`request cannot be sent upstream: invalid ${what}`);
  }
}

/** How the body goes on the wire: a buffer's length, a stream's declared length, or chunked. */
export function framingOf(
  method: string,
  headers: Readonly<Record<string, string | string[]>>,
  body: Buffer | NodeJS.ReadableStream | undefined,
): BodyFraming {
  if (body === undefined) return NO_LENGTH_METHODS.has(method) ? { kind: 'none' } : { kind: 'length', length: 0 };
  if (Buffer.isBuffer(body)) return { kind: 'length', length: body.length };
  const declared = headers['content-length'];
  return typeof declared === 'string' && /^\d{1,15}$/.test(declared)
    ? { kind: 'stream-length', length: declared }
    : { kind: 'chunked' };
}

export function requestHead(
  method: string,
  path: string,
  authority: string,
  headers: Readonly<Record<string, string | string[]>>,
  framing: BodyFraming,
): Buffer {
  if (!TOKEN.test(method)) throw new RequestHeadError('method');
  if (path.length === 0 || BAD_PATH.test(path)) throw new RequestHeadError('path');
  if (authority.length === 0 || BAD_AUTHORITY.test(authority)) throw new RequestHeadError('authority');
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${authority}\r\n`;
  for (const name in headers) {
    const value = headers[name]!;
    if (FRAMING.has(name.toLowerCase())) continue;
    if (!TOKEN.test(name)) throw new RequestHeadError(`header name ${JSON.stringify(name.slice(0, 64))}`);
    if (typeof value === 'string') {
      if (BAD_VALUE.test(value)) throw new RequestHeadError(`value of ${name}`);
      head += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) {
        if (BAD_VALUE.test(v)) throw new RequestHeadError(`value of ${name}`);
        head += `${name}: ${v}\r\n`;
      }
    }
  }
  if (framing.kind === 'length') head += `content-length: ${framing.length}\r\n`;
  else if (framing.kind === 'stream-length') head += `content-length: ${framing.length}\r\n`;
  else if (framing.kind === 'chunked') head += 'transfer-encoding: chunked\r\n';
  head += '\r\n';
  return Buffer.from(head, 'latin1');
}
