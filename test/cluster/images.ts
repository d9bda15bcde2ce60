// The container images the chart names, mapped onto this repository (deploy/docker/*): each
// image's ENTRYPOINT and USER, with the built code (dist/, node_modules/, the agent's netns
// addon) taken from the repository. The repository is mounted at its own path rather than
// /app so that the CNI installer's launcher (`node <realpath of main.js>`), copied onto the
// node, runs there too; the node's Node.js is the image's.
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../ctl/chart/tools.js';

export const REPO = packageRoot();

export interface ImageSpec {
  readonly component: 'agent' | 'controller' | 'waypoint' | 'cni';
  readonly entrypoint: readonly string[];
  /** USER of the Dockerfile (0 = root). */
  readonly uid: number;
  readonly workdir: string;
  /** Extra files the image has at fixed paths: target → content (written once per cluster). */
  readonly files: Readonly<Record<string, string>>;
}

const NODE = process.execPath;

/** The image for `ghcr.io/ambit-mesh/<component>:<tag>`; undefined for an image Ambit does not build. */
export function imageFor(image: string): ImageSpec | undefined {
  const name = image.split('/').pop()!.split(':')[0]!.split('@')[0]!;
  const main = (c: string): string[] => [NODE, `dist/${c}/main.js`];
  switch (name) {
    case 'agent': return { component: 'agent', entrypoint: main('agent'), uid: 0, workdir: REPO, files: {} };
    case 'controller': return { component: 'controller', entrypoint: main('controller'), uid: 1337, workdir: REPO, files: {} };
    case 'waypoint': return { component: 'waypoint', entrypoint: main('waypoint'), uid: 1337, workdir: REPO, files: {} };
    case 'cni': return {
      component: 'cni', entrypoint: ['/usr/local/bin/ambit-cni'], uid: 0, workdir: '/',
      files: { '/usr/local/bin/ambit-cni': `#!/bin/sh\nexec "${NODE}" "${path.join(REPO, 'dist', 'cni', 'main.js')}" "$@"\n` },
    };
    default: return undefined;
  }
}

/** Write an image file into `dir` (executable) and return its path. */
export async function writeImageFile(dir: string, target: string, content: string): Promise<string> {
  const file = path.join(dir, target.replace(/\//g, '_'));
  await writeFile(file, content);
  await chmod(file, 0o755);
  return file;
}
