import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setLogSink } from '../../core/log.js';
import { runInstallCli } from './cli.js';

describe('ambit-cni install / uninstall command line', () => {
  let dir: string;
  const conflist = '{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"ptp"}]}\n';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-cni-cli-'));
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'net.d'));
    await writeFile(join(dir, 'net.d', '05-k8s.conflist'), conflist);
    await writeFile(join(dir, 'plugin'), '#!/bin/sh\n');
    setLogSink({ write: () => true });
  });
  afterEach(async () => {
    setLogSink(process.stderr);
    await rm(dir, { recursive: true, force: true });
  });

  const dirs = (): string[] => ['--bin-dir', join(dir, 'bin'), '--conf-dir', join(dir, 'net.d')];

  it('installs with the given plugin file and agent socket, then uninstalls', async () => {
    expect(
      await runInstallCli(['install', ...dirs(), '--plugin', join(dir, 'plugin'), '--agent-socket', '/run/x.sock']),
    ).toBe(0);
    expect(await readFile(join(dir, 'bin', 'ambit-cni'), 'utf8')).toBe('#!/bin/sh\n');
    const installed = JSON.parse(await readFile(join(dir, 'net.d', '05-k8s.conflist'), 'utf8')) as {
      plugins: unknown[];
    };
    expect(installed.plugins).toEqual([{ type: 'ptp' }, { type: 'ambit-cni', agentSocket: '/run/x.sock' }]);
    expect(await runInstallCli(['uninstall', ...dirs()])).toBe(0);
    expect(await readFile(join(dir, 'net.d', '05-k8s.conflist'), 'utf8')).toBe(conflist);
    expect(await readdir(join(dir, 'bin'))).toEqual([]);
  });

  it('rejects unknown options and reports failures with a non-zero exit', async () => {
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      errors.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(await runInstallCli(['install', '--frobnicate'])).toBe(2);
      expect(
        await runInstallCli([
          'install',
          '--bin-dir',
          join(dir, 'bin'),
          '--conf-dir',
          join(dir, 'missing'),
          '--plugin',
          join(dir, 'plugin'),
        ]),
      ).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toMatch(/frobnicate/);
    expect(errors.join('')).toMatch(/missing/);
  });
});
