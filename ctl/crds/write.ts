// Writes the chart's CRD file from the TypeScript definitions.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrds } from './definitions.js';

export const CRD_FILE = 'deploy/charts/ambit/crds/ambit-crds.yaml';

export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith('/ctl') && dir !== '/') dir = path.dirname(dir);
  const parent = path.dirname(dir);
  return path.basename(parent) === 'dist' ? path.dirname(parent) : parent;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const file = path.join(repoRoot(), CRD_FILE);
  writeFileSync(file, renderCrds());
  console.log(`wrote ${file}`);
}
