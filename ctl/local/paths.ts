// Where the built components are: dist/<component>/main.js of this checkout (ctl runs from
// dist/ctl/local, tests from ctl/local; both find the package root by its package.json).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export const PACKAGE_ROOT = packageRoot();

export function builtMain(component: 'agent' | 'controller' | 'cni' | 'waypoint' | 'ctl'): string {
  return path.join(PACKAGE_ROOT, 'dist', component, 'main.js');
}
