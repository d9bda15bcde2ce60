// Builds the example plugin with wabt's wat2wasm (Debian package wabt); tests call this.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PLUGIN_WAT = fileURLToPath(new URL('./plugin.wat', import.meta.url));

/** Compiles WebAssembly text to `out` and returns the module's bytes. */
export function watToWasm(wat: string, out: string): Buffer {
  execFileSync('wat2wasm', [wat, '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(out);
}

/** Builds plugin.wat into `dir`/wasm-header-deny.wasm. */
export function buildHeaderDeny(dir: string): { file: string; bytes: Buffer } {
  const file = path.join(dir, 'wasm-header-deny.wasm');
  return { file, bytes: watToWasm(PLUGIN_WAT, file) };
}
