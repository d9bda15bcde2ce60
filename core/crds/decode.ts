// Decode untyped input (parsed YAML/JSON) into the typed value its schema describes, reporting
// what the Kubernetes API server would refuse for a structural schema: a value of the wrong
// type, an enum value not listed, a required field missing, a field the schema does not know
// (as `kubectl --validate=strict` reports it). Nulls are dropped, as the API server prunes
// them. Istio's value rules (durations, hosts, ranges, regexes) are the validators' business:
// they run on the decoded value.
import type { Schema } from './schema.js';

export type Report = (path: string, reason: string) => void;

/** JSON type names as Kubernetes prints them. */
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `number 1.5`, `string "80"`, `object`: the type, and the value when it is short. */
function shown(value: unknown): string {
  const type = typeName(value);
  if (type === 'object' || type === 'array') return type;
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 40 ? `${type} ${text}` : type;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  object: 'an object',
  array: 'a list',
};

/**
 * The decoded value, or undefined when `value` is absent or not of the schema's type (then
 * `report` was called). Members of an object or list that fail are left out and reported;
 * the caller rejects the object when anything was reported.
 */
export function decode<T>(schema: Schema<T>, value: unknown, path: string, report: Report): T | undefined {
  return decodeAny(schema, value, path, report) as T | undefined;
}

function decodeAny(schema: Schema, value: unknown, path: string, report: Report): unknown {
  if (value === undefined || value === null) return undefined;
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))) return value;
    report(path, `must be an integer or a string, got ${shown(value)}`);
    return undefined;
  }
  const type = schema.type as string | undefined;
  if (type === undefined) return value; // free-form (x-kubernetes-preserve-unknown-fields)
  if (!matchesType(type, value)) {
    report(path, `must be ${EXPECTED[type] ?? type}, got ${shown(value)}`);
    return undefined;
  }
  switch (type) {
    case 'string':
      return decodeString(schema, value as string, path, report);
    case 'array':
      return decodeList(schema, value as unknown[], path, report);
    case 'object':
      return decodeObject(schema, value as Record<string, unknown>, path, report);
    default:
      return value;
  }
}

function matchesType(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isRecord(value);
    default:
      return true;
  }
}

function decodeString(schema: Schema, value: string, path: string, report: Report): string | undefined {
  const allowed = schema.enum as readonly string[] | undefined;
  if (allowed && !allowed.includes(value)) {
    report(path, `unknown value "${value}" (allowed: ${allowed.join(', ')})`);
    return undefined;
  }
  return value;
}

// Copy on write: a list or object whose members all decode to themselves is returned as it is,
// so the bulk of the input (pods, services) is checked without being copied.

function decodeList(schema: Schema, value: readonly unknown[], path: string, report: Report): readonly unknown[] {
  const items = schema.items as Schema | undefined;
  if (!items) return value;
  let out: unknown[] | undefined;
  for (let i = 0; i < value.length; i++) {
    const item = value[i];
    const decoded = decodeAny(items, item, `${path}[${i}]`, report);
    if (out === undefined && decoded !== item) out = value.slice(0, i);
    if (out !== undefined && decoded !== undefined) out.push(decoded);
  }
  return out ?? value;
}

function decodeObject(
  schema: Schema,
  value: Readonly<Record<string, unknown>>,
  path: string,
  report: Report,
): Readonly<Record<string, unknown>> {
  const props = schema.properties as Readonly<Record<string, Schema>> | undefined;
  const additional = schema.additionalProperties as Schema | undefined;
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const keys = Object.keys(value);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const child = value[key];
    const decoded = decodeMember(key, child);
    if (out === undefined && decoded !== child) {
      out = {};
      for (const kept of keys.slice(0, i)) out[kept] = value[kept];
    }
    if (out !== undefined && decoded !== undefined) out[key] = decoded;
  }
  for (const key of (schema.required as readonly string[] | undefined) ?? []) {
    if (value[key] === undefined || value[key] === null) report(`${path}.${key}`, 'required field is missing');
  }
  return out ?? value;

  function decodeMember(key: string, child: unknown): unknown {
    if (key === '__proto__') {
      report(`${path}.${key}`, 'field name "__proto__" is not allowed');
      return undefined;
    }
    const sub = (props && Object.hasOwn(props, key) ? props[key] : undefined) ?? additional;
    if (sub) return decodeAny(sub, child, `${path}.${key}`, report);
    if (open || (!props && !additional)) return child;
    report(`${path}.${key}`, `unknown field "${key}"`);
    return undefined;
  }
}
