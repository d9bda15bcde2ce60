// npm `install` hook: build the native addons with node-gyp on Linux: the netns addon
// (agent/native, the agent's in-pod data path) and the memory addon (core/native, glibc's
// malloc_trim for any binary; the agent and the waypoint load it). `node scripts/build-native.mjs core`
// builds one of them (agent, core). Where one cannot build (not Linux, no compiler) the rest of
// Ambit still installs: without the netns addon the agent reports that in-pod capture is
// unavailable and netns tests say why they cannot run; without the memory addon the agent and
// the waypoint do not trim. An addon whose sources are not there (an image that copied only the other)
// is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const ADDONS = {
  agent: { dir: path.join(root, 'agent', 'native'), missing: 'in-pod capture will be unavailable' },
  core: {
    dir: path.join(root, 'core', 'native'),
    missing: 'the agent and the waypoint will not give freed memory back',
  },
};

if (process.platform !== 'linux') {
  console.warn('ambit: skipping the native addons (Linux only)');
  process.exit(0);
}
const wanted = process.argv.slice(2);
for (const name of wanted)
  if (!(name in ADDONS)) {
    console.error(`ambit: unknown addon ${name} (one of ${Object.keys(ADDONS).join(', ')})`);
    process.exit(2);
  }

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

for (const [name, addon] of Object.entries(ADDONS)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  if (!existsSync(path.join(addon.dir, 'binding.gyp'))) continue;
  const result = spawnSync(cmd, cmdArgs, { cwd: addon.dir, stdio: 'inherit' });
  if (result.status !== 0) console.warn(`ambit: the ${name} addon did not build; ${addon.missing}`);
}
process.exit(0);
