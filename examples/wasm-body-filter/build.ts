// Builds the body example plugin with wabt's wat2wasm (Debian package wabt); tests call this.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { watToWasm } from '../wasm-header-deny/build.js';

export const BODY_FILTER_WAT = fileURLToPath(new URL('./plugin.wat', import.meta.url));

/** Builds plugin.wat into `dir`/wasm-body-filter.wasm. */
export function buildBodyFilter(dir: string): { file: string; bytes: Buffer } {
  const file = path.join(dir, 'wasm-body-filter.wasm');
  return { file, bytes: watToWasm(BODY_FILTER_WAT, file) };
}
