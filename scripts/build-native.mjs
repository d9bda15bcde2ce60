// npm `install` hook: build the netns addon (agent/native) with node-gyp on Linux. Where it
// cannot build (not Linux, no compiler) the rest of Ambit still installs; the agent then
// reports that in-pod capture is unavailable and netns tests say why they cannot run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dir = path.join(root, 'agent', 'native');

if (process.platform !== 'linux') {
  console.warn('ambit: skipping the netns addon (Linux only)');
  process.exit(0);
}
if (!existsSync(path.join(dir, 'binding.gyp'))) process.exit(0);

const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(cmd, args, { cwd: dir, stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('ambit: the netns addon did not build; in-pod capture will be unavailable');
}
process.exit(0);
