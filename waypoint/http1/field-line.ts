// One field line of an HTTP/1 head or trailer section, as both parsers read it (RFC 9112 §5):
// a token name right before the colon (a leading space or tab is obs-fold, refused), the value
// without the optional whitespace (SP, HTAB) around it, and no control characters in it.
import type { Refuse } from './body-framing.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, space and tab; no other control characters.
// eslint-disable-next-line no-control-regex -- the control characters are what is checked for
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;

export interface FieldLine {
  /** As sent. */
  readonly name: string;
  /** Lower case. */
  readonly key: string;
  readonly value: string;
}

/** The value of a field line from `from`, optional whitespace (SP, HTAB) around it removed. */
function fieldValue(line: string, from: number): string {
  let start = from;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === 32 || line.charCodeAt(start) === 9)) start++;
  while (end > start && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === line.length ? line : line.slice(start, end);
}

/** A field line split and checked; `what` names the section in errors ("header", "trailer"). */
export function readFieldLine(line: string, what: string, refuse: Refuse): FieldLine {
  const colon = line.indexOf(':');
  if (colon <= 0) throw refuse(`bad ${what} line`);
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) throw refuse(`bad ${what} name`);
  const value = fieldValue(line, colon + 1);
  if (BAD_VALUE.test(value)) throw refuse(`bad value of ${name}`);
  return { name, key: name.toLowerCase(), value };
}

/** Comma-separated tokens of a list field (Connection, Transfer-Encoding), lower case, trimmed. */
export function listTokens(value: string): string[] {
  return value
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
}
