// Chart values and installation profiles. A profile is a values overlay in
// deploy/charts/ambit/profiles/<name>.yaml; its values are the chart's values.yaml with the
// overlay merged in, the way Helm merges `-f` files (maps merge, lists and scalars replace).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { chartDir } from './tools.js';

export type Values = { [key: string]: unknown };

export function isMap(value: unknown): value is Values {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function mergeValues(base: Values, overlay: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const prior = out[key];
    out[key] = isMap(prior) && isMap(value) ? mergeValues(prior, value) : value;
  }
  return out;
}

function readYaml(file: string): Values {
  const doc: unknown = parse(readFileSync(file, 'utf8'));
  if (doc === null || doc === undefined) return {};
  if (!isMap(doc)) throw new Error(`${file}: expected a map of values`);
  return doc;
}

export function profilesDir(): string {
  return path.join(chartDir(), 'profiles');
}

export function profilePath(name: string): string {
  const known = listProfiles().map((p) => p.name);
  if (!known.includes(name)) throw new Error(`unknown profile "${name}"; known profiles: ${known.join(', ')}`);
  return path.join(profilesDir(), `${name}.yaml`);
}

export interface ProfileInfo {
  readonly name: string;
  readonly description: string;
}

export function listProfiles(): ProfileInfo[] {
  return readdirSync(profilesDir())
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const firstLine = readFileSync(path.join(profilesDir(), file), 'utf8').split('\n')[0] ?? '';
      const description = firstLine.startsWith('#') ? firstLine.replace(/^#\s*[a-z]+:\s*/, '') : '';
      return { name: file.replace(/\.yaml$/, ''), description };
    });
}

export function chartValues(): Values {
  return readYaml(path.join(chartDir(), 'values.yaml'));
}

export function profileValues(name: string): Values {
  return mergeValues(chartValues(), readYaml(profilePath(name)));
}

/** Flattens values to `a.b.c` → leaf, for diffs (lists stay whole leaves). */
export function flatten(values: Values, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(values)) {
    const pathKey = prefix ? `${prefix}.${key}` : key;
    if (isMap(value) && Object.keys(value).length > 0) {
      for (const [k, v] of flatten(value, pathKey)) out.set(k, v);
    } else {
      out.set(pathKey, value);
    }
  }
  return out;
}

export interface ValueChange {
  readonly path: string;
  readonly a: unknown;
  readonly b: unknown;
}

export function diffValues(a: Values, b: Values): ValueChange[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const keys = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  return keys
    .filter((k) => JSON.stringify(fa.get(k)) !== JSON.stringify(fb.get(k)))
    .map((k) => ({ path: k, a: fa.get(k), b: fb.get(k) }));
}
