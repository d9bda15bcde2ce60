// A suite killed mid-run (a stopped session, a crash) can leave its bridge and network
// namespaces behind; `local up` then refuses to start on an existing bridge. Suites call this
// first to remove what an earlier run of the same suite (same bridge name, same netns prefix)
// left, and nothing else.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function clearStaleNetwork(bridge: string, netnsPrefix: string): Promise<string[]> {
  const removed: string[] = [];
  const { stdout } = await run('ip', ['netns', 'list']).catch(() => ({ stdout: '' }));
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name && name.startsWith(netnsPrefix)) {
      await run('ip', ['netns', 'delete', name]).then(
        () => removed.push(`netns ${name}`),
        () => undefined,
      );
    }
  }
  const exists = await run('ip', ['link', 'show', 'dev', bridge]).then(
    () => true,
    () => false,
  );
  if (exists)
    await run('ip', ['link', 'delete', bridge]).then(
      () => removed.push(`link ${bridge}`),
      () => undefined,
    );
  if (removed.length > 0) console.warn(`removed what an earlier run left: ${removed.join(', ')}`);
  return removed;
}
