// Where a process's resident memory is, from /proc/<pid>/smaps: the brk heap (glibc malloc's
// main arena: OpenSSL, nghttp2, libuv, the addon), other anonymous mappings (V8's heap
// pages, malloc's mmapped chunks and thread arenas, thread stacks) and file-backed pages
// (node's binary, libraries, the addon). Linux only.
import { readFileSync } from 'node:fs';

export interface ResidentSplit {
  brkMb: number;
  anonMb: number;
  fileMb: number;
}

export function residentSplit(pid: number): ResidentSplit {
  const split = { brkMb: 0, anonMb: 0, fileMb: 0 };
  let kind: keyof ResidentSplit = 'anonMb';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    // A mapping's header: "start-end perms offset dev inode [path]".
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const [, inode, path] = header;
      kind = path === '[heap]' ? 'brkMb' : inode !== '0' ? 'fileMb' : 'anonMb';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) split[kind] += Number(rss[1]) / 1024;
  }
  return split;
}

export function residentSplitLine(pid: number): string {
  const s = residentSplit(pid);
  return `brk heap ${s.brkMb.toFixed(1)} MiB, other anonymous ${s.anonMb.toFixed(1)}, files ${s.fileMb.toFixed(1)}`;
}
