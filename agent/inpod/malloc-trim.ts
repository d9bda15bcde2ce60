// The agent's malloc trimmer: core/runtime/malloc-trim.ts (a full V8 collection, then glibc
// malloc_trim(0), one quiet interval after a load) with the trim of the netns addon, which the
// agent loads anyway for its in-pod sockets.
import {
  startMallocTrim as startCoreMallocTrim,
  type MallocTrimmer,
  type MallocTrimOptions as CoreOptions,
} from '../../core/runtime/malloc-trim.js';
import { netnsAddon } from './native.js';

export { fullCollection, type MallocTrimmer } from '../../core/runtime/malloc-trim.js';

/** As core's, with the trim defaulting to the netns addon's. */
export type MallocTrimOptions = Omit<CoreOptions, 'trim'> & Partial<Pick<CoreOptions, 'trim'>>;

/** The addon's malloc_trim, or undefined (not Linux/glibc, or an addon built before it). */
export function addonMallocTrim(): (() => boolean) | undefined {
  try {
    const addon = netnsAddon();
    return typeof addon.mallocTrim === 'function' ? () => addon.mallocTrim!() : undefined;
  } catch {
    return undefined;
  }
}

export function startMallocTrim(o: MallocTrimOptions): MallocTrimmer {
  return startCoreMallocTrim({ ...o, trim: o.trim ?? addonMallocTrim() });
}
