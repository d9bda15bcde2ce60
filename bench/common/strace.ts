// Syscall counts of running processes with `strace -c -f -p <pid>...` (Debian package strace).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface SyscallCount {
  readonly name: string;
  readonly calls: number;
  readonly seconds: number;
}

/** Parses the table `strace -c` writes, busiest syscall first, without the total line. */
export function parseStraceSummary(text: string): SyscallCount[] {
  const rows: SyscallCount[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+([\d.]+)\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[3] !== 'total') rows.push({ name: m[3] as string, calls: Number(m[2]), seconds: Number(m[1]) });
  }
  return rows.sort((a, b) => b.calls - a.calls);
}

/** Attaches strace to `pids` (all threads); stop() detaches and returns the counts. */
export async function attachStrace(
  pids: readonly number[],
  outFile: string,
): Promise<{ stop(): Promise<SyscallCount[]> }> {
  const proc = spawn('strace', ['-c', '-f', '-o', outFile, ...pids.flatMap((p) => ['-p', String(p)])], {
    stdio: 'ignore',
  });
  await new Promise<void>((resolve, reject) => {
    proc.once('spawn', () => resolve());
    proc.once('error', (err) => reject(new Error(`strace: ${err.message} (install the Debian package strace)`)));
  });
  await new Promise((r) => setTimeout(r, 500)); // attaching to every thread takes a moment
  return {
    stop: async () => {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGINT');
      await exited;
      return parseStraceSummary(readFileSync(outFile, 'utf8'));
    },
  };
}
