// Pure edits of a CNI conflist: put {"type":"ambit-cni", …} at the end of the plugins chain,
// or take it out. Idempotent: an edit that changes nothing reports `changed: false`.
import { isDeepStrictEqual } from 'node:util';

export const PLUGIN_TYPE = 'ambit-cni';

/** File names a container runtime loads from the CNI conf dir, in the order it picks them. */
export function isCniConfigFile(name: string): boolean {
  return /\.(conflist|conf|json)$/.test(name);
}

/** The runtime uses the lexically first config file of the directory. */
export function primaryConfig(fileNames: readonly string[]): string | undefined {
  return [...fileNames].filter(isCniConfigFile).sort()[0];
}

export interface EditResult {
  text: string;
  changed: boolean;
}

type Json = Record<string, unknown>;

function parseConflist(text: string, file: string): Json & { plugins: Json[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  const obj = raw as Json;
  if (!Array.isArray(obj.plugins)) {
    throw new Error(
      `${file}: has no "plugins" list (a single-plugin .conf); ambit-cni needs a .conflist to chain after the cluster network`,
    );
  }
  if (!obj.plugins.every((p) => typeof p === 'object' && p !== null && typeof (p as Json).type === 'string')) {
    throw new Error(`${file}: plugins: every entry needs a "type"`);
  }
  return obj as Json & { plugins: Json[] };
}

function render(obj: Json): string {
  return JSON.stringify(obj, null, 2) + '\n';
}

/** Ensure `plugin` is the last entry of the chain (replacing an older ambit-cni entry). */
export function insertPlugin(text: string, plugin: Json, file = 'conflist'): EditResult {
  const obj = parseConflist(text, file);
  const entry = { ...plugin, type: PLUGIN_TYPE };
  const last = obj.plugins[obj.plugins.length - 1];
  const ours = obj.plugins.filter((p) => p.type === PLUGIN_TYPE);
  if (ours.length === 1 && last && isDeepStrictEqual(last, entry)) return { text, changed: false };
  obj.plugins = [...obj.plugins.filter((p) => p.type !== PLUGIN_TYPE), entry];
  return { text: render(obj), changed: true };
}

/** Remove every ambit-cni entry. */
export function removePlugin(text: string, file = 'conflist'): EditResult {
  const obj = parseConflist(text, file);
  if (!obj.plugins.some((p) => p.type === PLUGIN_TYPE)) return { text, changed: false };
  obj.plugins = obj.plugins.filter((p) => p.type !== PLUGIN_TYPE);
  return { text: render(obj), changed: true };
}

export function hasPlugin(text: string): boolean {
  try {
    const obj = JSON.parse(text) as Json;
    return Array.isArray(obj.plugins) && obj.plugins.some((p) => (p as Json | null)?.type === PLUGIN_TYPE);
  } catch {
    return false;
  }
}

/** Same JSON content (formatting aside)? */
export function sameJson(a: string, b: string): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(a), JSON.parse(b));
  } catch {
    return false;
  }
}
