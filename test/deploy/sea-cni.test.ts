// The CNI plugin as a single executable (Node SEA, scripts/build-cni-sea.mjs), the form the
// CNI image installs on nodes that have no Node.js: built once here, then run through the
// same CNI cases as the TS build (test/support/cni-plugin-suite.ts) with no Node.js on PATH.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokePlugin } from '../support/cni-chain.js';
import { cniPluginSuite } from '../support/cni-plugin-suite.js';
import { REPO_ROOT as REPO } from '../support/repo.js';

const run = promisify(execFile);
const NO_NODE = { PATH: '/nonexistent' };

describe('ambit-cni as a single executable (SEA)', () => {
  let dir: string;
  let binary: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambt-h10-sea-'));
    binary = join(dir, 'ambit-cni');
    // From the sources (esbuild maps the `.js` imports to `.ts`), so the test never runs a stale dist/.
    await run(process.execPath, [join(REPO, 'scripts', 'build-cni-sea.mjs'), '--entry', join(REPO, 'cni', 'main.ts'), '--out', binary], { cwd: REPO, timeout: 300_000 });
  }, 320_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is a native executable, not a script that needs node', async () => {
    const fh = await open(binary, 'r');
    try {
      const { buffer } = await fh.read(Buffer.alloc(4), 0, 4, 0);
      expect(buffer.toString('latin1')).toBe('\x7fELF');
    } finally {
      await fh.close();
    }
    await expect(run('node', ['--version'], { env: NO_NODE })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('answers VERSION with an empty environment and PATH=/nonexistent', async () => {
    const out = await invokePlugin(binary, { ...NO_NODE, CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.json).toEqual({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['0.3.1', '0.4.0', '1.0.0']) });
    expect(out.stderr).not.toMatch(/ExperimentalWarning|single executable/i);
    const bad = await invokePlugin(binary, { ...NO_NODE }, '{}');
    expect(bad.exitCode).toBe(1);
    expect(bad.json).toMatchObject({ code: 4, msg: 'CNI_COMMAND is not set' });
  });

  it('`install` copies the executable itself (no launcher) and `uninstall` restores the conflist', async () => {
    const binDir = join(dir, 'host', 'opt-cni-bin');
    const confDir = join(dir, 'host', 'etc-cni-net.d');
    await mkdir(binDir, { recursive: true });
    await mkdir(confDir, { recursive: true });
    const original = JSON.stringify({ cniVersion: '1.0.0', name: 'k8s-pod-network', plugins: [{ type: 'bridge', bridge: 'cni0' }] }, null, 2) + '\n';
    await writeFile(join(confDir, '10-pods.conflist'), original);

    await run(binary, ['install', '--bin-dir', binDir, '--conf-dir', confDir, '--agent-socket', '/var/run/ambit/agent.sock'], { env: NO_NODE });
    const installed = join(binDir, 'ambit-cni');
    expect((await readFile(installed)).equals(await readFile(binary))).toBe(true);
    const conflist = JSON.parse(await readFile(join(confDir, '10-pods.conflist'), 'utf8')) as { plugins: Array<Record<string, unknown>> };
    expect(conflist.plugins.map((p) => p.type)).toEqual(['bridge', 'ambit-cni']);
    expect(conflist.plugins[1]).toMatchObject({ agentSocket: '/var/run/ambit/agent.sock' });
    // the installed copy runs on its own, as the kubelet's runtime would call it
    const version = await invokePlugin(installed, { ...NO_NODE, CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(version.json).toMatchObject({ cniVersion: '0.4.0' });

    await run(binary, ['uninstall', '--bin-dir', binDir, '--conf-dir', confDir], { env: NO_NODE });
    expect(await readFile(join(confDir, '10-pods.conflist'), 'utf8')).toBe(original);
  });

  cniPluginSuite('the SEA ambit-cni in a real CNI chain', {
    tag: 'h10',
    bridges: ['ambt-h10-br0', 'ambt-h10-br3'],
    subnets: ['10.231.100.0/24', '10.231.103.0/24'],
    subnet6: 'fd00:a10:103::/64',
    plugin: () => binary,
    env: NO_NODE,
  });
});
