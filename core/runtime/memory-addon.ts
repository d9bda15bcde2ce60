// Loads the memory addon (core/native, ambit_memory.node, built by scripts/build-native.mjs at
// install and in the waypoint's image): glibc's malloc_trim and V8's low-memory collection for
// binaries that have no other addon. A missing or unloadable build only means no trim; the
// reason is kept for a debug line.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MemoryAddon {
  /** glibc malloc_trim(0); false where there is no glibc. */
  mallocTrim(): boolean;
  /** V8's LowMemoryNotification: full collections that also shrink the young generation. */
  lowMemoryNotification(): boolean;
}

const ADDON_FILE = 'ambit_memory.node';
let cached: { addon: MemoryAddon } | { reason: string } | undefined;

/** Where the loader in `moduleDir` (core/runtime, or dist/core/runtime) looks for the build. */
export function memoryAddonPaths(moduleDir = path.dirname(fileURLToPath(import.meta.url))): string[] {
  return [
    // source tree: core/runtime → core/native
    path.resolve(moduleDir, '../native/build/Release', ADDON_FILE),
    // compiled: dist/core/runtime → core/native
    path.resolve(moduleDir, '../../../core/native/build/Release', ADDON_FILE),
  ];
}

function load(): { addon: MemoryAddon } | { reason: string } {
  if (process.platform !== 'linux') return { reason: `no memory addon on ${process.platform}` };
  const tried = memoryAddonPaths();
  const file = tried.find((p) => existsSync(p));
  if (!file) return { reason: `the memory addon is not built (looked for ${tried.join(', ')})` };
  try {
    const addon = createRequire(import.meta.url)(file) as Partial<MemoryAddon>;
    if (typeof addon.mallocTrim !== 'function' || typeof addon.lowMemoryNotification !== 'function')
      return { reason: `the memory addon at ${file} is an older build: rebuild it (node scripts/build-native.mjs)` };
    return { addon: addon as MemoryAddon };
  } catch (err) {
    return { reason: `the memory addon at ${file} did not load: ${(err as Error).message}` };
  }
}

/** The addon, or why there is none (not Linux, not built, built for another Node.js). */
export function memoryAddon(): { addon: MemoryAddon } | { reason: string } {
  cached ??= load();
  return cached;
}
