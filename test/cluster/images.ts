// The container images the chart names, mapped onto this repository (deploy/docker/*): each
// image's ENTRYPOINT and USER, with the built code (dist/, node_modules/, the agent's netns
// addon) taken from the repository. The repository is mounted at its own path rather than
// /app so that the CNI installer's launcher (`node <realpath of main.js>`), copied onto the
// node, runs there too; the node's Node.js is the image's.
import { chmod, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
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
    case 'agent':
      // The agent's Dockerfile passes its V8 flags (agent/node-flags.ts) before main.js.
      return {
        component: 'agent',
        entrypoint: [NODE, ...AGENT_NODE_FLAGS, 'dist/agent/main.js'],
        uid: 0,
        workdir: REPO,
        files: {},
      };
    case 'controller':
      return { component: 'controller', entrypoint: main('controller'), uid: 1337, workdir: REPO, files: {} };
    case 'waypoint':
      return { component: 'waypoint', entrypoint: main('waypoint'), uid: 1337, workdir: REPO, files: {} };
    case 'cni':
      return {
        component: 'cni',
        entrypoint: ['/usr/local/bin/ambit-cni'],
        uid: 0,
        workdir: '/',
        files: {
          '/usr/local/bin/ambit-cni': `#!/bin/sh\nexec "${NODE}" "${path.join(REPO, 'dist', 'cni', 'main.js')}" "$@"\n`,
        },
      };
    default:
      return undefined;
  }
}

/** The built components, as an image build would freeze them (see snapshotDist). */
export const IMAGE_DIST_PARTS = ['agent', 'controller', 'waypoint', 'cni', 'core'] as const;

/**
 * Copy dist/ (the parts the images run) into `dir`: containers see this copy at REPO/dist, so an
 * engineer rebuilding the shared checkout mid-test cannot hand a container a half-written file.
 */
export async function snapshotDist(dir: string): Promise<string> {
  const target = path.join(dir, 'dist');
  await mkdir(target, { recursive: true });
  for (const part of IMAGE_DIST_PARTS)
    await cp(path.join(REPO, 'dist', part), path.join(target, part), {
      recursive: true,
      filter: (f) => !f.endsWith('.map'),
    });
  return target;
}

/** Write an image file into `dir` (executable) and return its path. */
export async function writeImageFile(dir: string, target: string, content: string): Promise<string> {
  const file = path.join(dir, target.replace(/\//g, '_'));
  await writeFile(file, content);
  await chmod(file, 0o755);
  return file;
}
