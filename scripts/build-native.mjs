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

// node-gyp: the one npm hands to install scripts, else npm's own bundled copy, else PATH.
const prefix = path.dirname(path.dirname(process.execPath));
const bundledGyp = path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (existsSync(bundledGyp) ? bundledGyp : undefined);
const args = ['rebuild'];
// Build against the headers installed with this node (no download: the network may be closed).
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const [cmd, cmdArgs] = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args];
const result = spawnSync(cmd, cmdArgs, { cwd: dir, stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('ambit: the netns addon did not build; in-pod capture will be unavailable');
}
process.exit(0);
