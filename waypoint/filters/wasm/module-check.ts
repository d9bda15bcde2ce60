// Checks on a module's bytes before it runs: the sha256 the WasmPlugin names, a declared
// initial memory within the limit, and the memory's maximum capped at that limit. The section
// walk reads only section headers and the memory section, every length checked against the
// bytes (bounded work).
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

function lebBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    const low = v % 128;
    v = Math.floor(v / 128);
    out.push(v > 0 ? low | 0x80 : low);
  } while (v > 0);
  return out;
}

interface MemorySection {
  /** Offset of the section id, and of the first byte after the section. */
  readonly start: number;
  readonly end: number;
  readonly memories: Array<{ flags: number; initial: number; max?: number }>;
}

/** The initial page counts of the memories the module defines; throws on malformed bytes. */
export function declaredMemoryPages(bytes: Uint8Array): number[] {
  return (memorySection(bytes)?.memories ?? []).map((m) => m.initial);
}

/**
 * The module with every memory it defines given a maximum of `maxPages` (or its own, when
 * lower): memory.grow past it then fails inside the module (returns -1) instead of growing.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  const section = memorySection(bytes);
  if (!section) return bytes;
  const body = [...lebBytes(section.memories.length)];
  for (const m of section.memories) {
    if (m.flags & 0x04) throw new Error('64-bit memories are not supported');
    body.push(m.flags | 0x01, ...lebBytes(m.initial), ...lebBytes(Math.min(m.max ?? maxPages, maxPages)));
  }
  const head = bytes.subarray(0, section.start);
  const tail = bytes.subarray(section.end);
  return Uint8Array.from([...head, MEMORY_SECTION, ...lebBytes(body.length), ...body, ...tail]);
}

function memorySection(bytes: Uint8Array): MemorySection | undefined {
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
      const memories: MemorySection['memories'] = [];
      let p = count.next;
      for (let i = 0; i < count.value; i++) {
        const flags = bytes[p];
        const initial = leb(bytes, p + 1);
        if (flags === undefined || !initial) throw new Error('malformed memory section');
        p = initial.next;
        let max: number | undefined;
        if (flags & 1) {
          const m = leb(bytes, p);
          if (!m) throw new Error('malformed memory section');
          max = m.value;
          p = m.next;
        }
        memories.push({ flags, initial: initial.value, ...(max === undefined ? {} : { max }) });
      }
      return { start: at, end: size.next + size.value, memories };
    }
    at = size.next + size.value;
  }
  return undefined;
}
