// The agent loads only what it uses: started in file mode (the built binary, dist/agent/main.js,
// as the image runs it), it must not load gRPC and the protobuf schemas (controller mode only),
// YAML (only for a snapshot file that is not JSON), jose, or any controller code (translation).
// Each would cost the agent megabytes of RSS on every node. An ESM loader hook registered with
// --import lists every module the process loads; CommonJS packages show as their entry module.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/support/repo.js';

const FORBIDDEN: ReadonlyArray<[string, RegExp]> = [
  ['gRPC', /\/node_modules\/@grpc\//],
  ['protobufjs', /\/node_modules\/protobufjs\//],
  ['YAML', /\/node_modules\/yaml\//],
  ['jose', /\/node_modules\/jose\//],
  ['controller code', /\/dist\/controller\//],
  ['the xDS client', /\/dist\/core\/xds\/(client|proto)\.js$/],
];

const HOOK = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.AMBIT_TEST_MODULE_LIST, url + '\\\\n');
  return next(url, context);
}\`));
`;

/** Start the agent in file mode, wait for its ready line, stop it; the modules it loaded. */
async function modulesLoadedByAgent(dir: string): Promise<string[]> {
  const hook = path.join(dir, 'hook.mjs');
  const list = path.join(dir, 'modules.txt');
  const snapshot = path.join(dir, 'mesh.json');
  await writeFile(hook, HOOK);
  await writeFile(list, '');
  await writeFile(snapshot, JSON.stringify({ version: 'v1', workloads: [], services: [] }));
  const child = spawn(process.execPath, ['--import', hook, path.join(REPO_ROOT, 'dist', 'agent', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      // The hook runs on the loader thread, which inherits this environment.
      AMBIT_TEST_MODULE_LIST: list,
      AMBIT_CONFIG_FILE: snapshot,
      AMBIT_STATE_DIR: path.join(dir, 'state'),
      AMBIT_AGENT_SOCKET: path.join(dir, 'agent.sock'),
      AMBIT_NODE_NAME: 'module-load',
      AMBIT_ADMIN_PORT: '0',
      AMBIT_METRICS_PORT: '0',
      AMBIT_READY_PORT: '0',
      AMBIT_SOCKS5_PORT: '0',
      AMBIT_LOG_LEVEL: 'error',
      AMBIT_NATIVE_ADDON: path.join(REPO_ROOT, 'agent', 'native', 'build', 'Release', 'ambit_netns.node'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^ready\b/m.test(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the agent exited (${code}) before it was ready: ${stderr}`)));
    });
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
  return (await readFile(list, 'utf8')).split('\n').filter(Boolean);
}

describe('agent module loading (file mode)', () => {
  let dir = '';
  let loaded: string[] = [];

  beforeAll(async () => {
    const main = path.join(REPO_ROOT, 'dist', 'agent', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build)`);
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-agent-modules-'));
    loaded = await modulesLoadedByAgent(dir);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the hook saw the agent load its own modules (the list is real)', () => {
    expect(loaded.some((u) => u.endsWith('/dist/agent/agent.js'))).toBe(true);
    expect(loaded.some((u) => u.endsWith('/dist/core/hbone/server.js'))).toBe(true);
  });

  it.each(FORBIDDEN)('does not load %s', (_what, pattern) => {
    expect(loaded.filter((u) => pattern.test(u))).toEqual([]);
  });
});
