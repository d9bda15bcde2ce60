// The agent's and the waypoint's images carry the memory addon (core/native) where the compiled
// loader looks for it, so what the chart deploys gives freed native memory back as the benches measured.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryAddonPaths } from '../../core/runtime/memory-addon.js';
import { REPO_ROOT } from '../support/repo.js';

describe.each(['agent', 'waypoint'])('%s image', (image) => {
  const dockerfile = readFileSync(path.join(REPO_ROOT, 'deploy', 'docker', `${image}.Dockerfile`), 'utf8');
  const lines = dockerfile.split('\n');

  it('builds the memory addon in the build stage', () => {
    expect(lines.some((l) => /^COPY core\/native \.\/core\/native$/.test(l))).toBe(true);
    expect(lines.some((l) => /^RUN .*node scripts\/build-native\.mjs\b.*\bcore\b/.test(l))).toBe(true);
  });

  it('copies it to where dist/core/runtime/memory-addon.js looks for it', () => {
    const workdirs = lines.filter((l) => l.startsWith('WORKDIR '));
    const appDir = workdirs[workdirs.length - 1]!.slice('WORKDIR '.length).trim();
    const copy = lines.find((l) => l.startsWith('COPY --from=build /src/core/native/build/Release/'));
    expect(copy).toBeDefined();
    const target = path.posix.join(appDir, copy!.split(/\s+/).pop()!);
    const looked = memoryAddonPaths(path.posix.join(appDir, 'dist', 'core', 'runtime')).map((p) => path.dirname(p));
    expect(looked).toContain(target.replace(/\/$/, ''));
  });
});
