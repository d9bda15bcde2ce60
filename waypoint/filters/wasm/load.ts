// Fetches a WasmPlugin's module and checks it. file:// modules are read while the config is
// applied, so a bad one (wrong sha256, not a module, memory over the limit) rejects the
// config and the last good one stays; http(s) modules are fetched in the background and,
// until they are good, requests get the plugin's failStrategy.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AmbitError } from '../../../core/errors.js';
import type { WasmPluginConfig } from '../../../core/model/l7.js';
import { declaredMemoryPages, sha256Hex } from './module-check.js';
import { wasm } from './wasm-api.js';

/** Largest module accepted (bytes). */
export const MAX_MODULE_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_MEMORY_PAGES = 256; // 16 MiB
export const DEFAULT_CALL_TIMEOUT_MS = 1000;

function refuse(p: WasmPluginConfig, field: string, why: string): AmbitError {
  return new AmbitError('AMBIT_E_CONFIG', `WasmPlugin ${p.key}: spec.${field}: ${why}`, {
    hint: 'fix the WasmPlugin; the waypoint keeps its last good configuration',
  });
}

/** Checks fetched bytes against the plugin's sha256 and limits; returns them when good. */
export function checkModule(p: WasmPluginConfig, bytes: Uint8Array): Uint8Array {
  if (bytes.length > MAX_MODULE_BYTES)
    throw refuse(p, 'url', `module is ${bytes.length} bytes, over ${MAX_MODULE_BYTES}`);
  if (p.sha256) {
    const actual = sha256Hex(bytes);
    if (actual !== p.sha256.toLowerCase())
      throw refuse(p, 'sha256', `module digest is ${actual}, not the ${p.sha256} the WasmPlugin names`);
  }
  let pages: number[];
  try {
    pages = declaredMemoryPages(bytes);
    new wasm.Module(bytes);
  } catch (err) {
    throw refuse(p, 'url', `not a valid WebAssembly module: ${err instanceof Error ? err.message : String(err)}`);
  }
  const limit = p.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
  const over = pages.find((n) => n > limit);
  if (over !== undefined) throw refuse(p, 'url', `module declares ${over} memory pages, over the limit of ${limit}`);
  return bytes;
}

/** A file:// module, read and checked now; undefined for URLs fetched later. */
export function loadFileModule(p: WasmPluginConfig): Uint8Array | undefined {
  if (!p.url.startsWith('file://')) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(fileURLToPath(p.url));
  } catch (err) {
    throw refuse(p, 'url', `cannot read the module: ${err instanceof Error ? err.message : String(err)}`);
  }
  return checkModule(p, bytes);
}

/** An http(s) module from inside the mesh. */
export async function fetchModule(p: WasmPluginConfig): Promise<Uint8Array> {
  if (!/^https?:\/\//.test(p.url)) throw refuse(p, 'url', 'only file://, http:// and https:// URLs are loaded');
  const res = await fetch(p.url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw refuse(p, 'url', `fetch answered ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_MODULE_BYTES) throw refuse(p, 'url', `module is ${declared} bytes, over ${MAX_MODULE_BYTES}`);
  return checkModule(p, new Uint8Array(await res.arrayBuffer()));
}
