// Checks on a module's bytes before it runs: the sha256 the WasmPlugin names, a valid module,
// and a declared initial memory within the limit. The section walk reads only section headers
// and the memory section, with every length checked against the bytes (bounded work).
import { createHash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const MEMORY_SECTION = 5;
const MAX_SECTIONS = 10_000;

/** Reads an unsigned LEB128 of at most 5 bytes (u32); undefined when it runs off the end. */
function leb(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const b = bytes[at + i];
    if (b === undefined) return undefined;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, next: at + i + 1 };
  }
  return undefined;
}

/** The initial page counts of the memories the module defines; throws on malformed bytes. */
export function declaredMemoryPages(bytes: Uint8Array): number[] {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((m, i) => bytes[i] !== m)) throw new Error('not a WebAssembly module');
  let at = 8;
  for (let n = 0; at < bytes.length && n < MAX_SECTIONS; n++) {
    const id = bytes[at];
    const size = leb(bytes, at + 1);
    if (id === undefined || !size || size.next + size.value > bytes.length) throw new Error('truncated section');
    if (id === MEMORY_SECTION) {
      const count = leb(bytes, size.next);
      if (!count || count.value > size.value) throw new Error('malformed memory section');
      const out: number[] = [];
      let p = count.next;
      for (let i = 0; i < count.value; i++) {
        const flags = bytes[p];
        const initial = leb(bytes, p + 1);
        if (flags === undefined || !initial) throw new Error('malformed memory section');
        out.push(initial.value);
        p = initial.next;
        if (flags & 1) {
          const max = leb(bytes, p);
          if (!max) throw new Error('malformed memory section');
          p = max.next;
        }
      }
      return out;
    }
    at = size.next + size.value;
  }
  return [];
}
