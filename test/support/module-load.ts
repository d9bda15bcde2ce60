// Which modules a built binary loads: it is started under a preload (--import) that registers an
// ESM loader hook and wraps require(), each appending every module's URL to a file; once the
// binary prints its `ready` line it is stopped and the list read.
// The module-load tests of the agent and the waypoint hold each binary to what its mode uses.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const HOOK = `
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.AMBIT_TEST_MODULE_LIST, url + '\\\\n');
  return next(url, context);
}\`));
// require() (CommonJS, and ES modules required with createRequire) does not pass the hook above.
const Module = createRequire(import.meta.url)('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (!Module.isBuiltin(request)) {
    const file = Module._resolveFilename(request, parent, isMain);
    appendFileSync(process.env.AMBIT_TEST_MODULE_LIST, pathToFileURL(file).href + '\\n');
  }
  return exported;
};
`;

/** Modules a data-path binary should not load unless its mode needs them: [what, URL pattern]. */
export const HEAVY_MODULES = {
  grpc: ['gRPC', /\/node_modules\/@grpc\//],
  protobufjs: ['protobufjs', /\/node_modules\/protobufjs\//],
  yaml: ['YAML', /\/node_modules\/yaml\//],
  jose: ['jose', /\/node_modules\/jose\//],
  controller: ['controller code', /\/dist\/controller\//],
  xdsClient: ['the xDS client', /\/dist\/core\/xds\/(client|proto)\.js$/],
} as const satisfies Record<string, readonly [string, RegExp]>;

export interface ModuleLoadRun {
  /** The built main module (dist/…/main.js). */
  readonly main: string;
  readonly args?: readonly string[];
  /** The binary's environment (PATH is added). */
  readonly env: Readonly<Record<string, string>>;
  /** A scratch directory for the hook and the list. */
  readonly dir: string;
}

/** Start `main` under the hook, wait for its `ready` line, stop it; the module URLs it loaded. */
export async function modulesLoadedBy(run: ModuleLoadRun): Promise<string[]> {
  const hook = path.join(run.dir, 'module-hook.mjs');
  const list = path.join(run.dir, 'modules.txt');
  await writeFile(hook, HOOK);
  await writeFile(list, '');
  const child = spawn(process.execPath, ['--import', hook, run.main, ...(run.args ?? [])], {
    // The hook runs on the loader thread, which inherits this environment.
    env: { PATH: process.env.PATH ?? '', ...run.env, AMBIT_TEST_MODULE_LIST: list },
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
      const name = path.basename(path.dirname(run.main));
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready: ${stderr}`)));
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
  return (await readFile(list, 'utf8')).split('\n').filter(Boolean);
}
