import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertPlugin, primaryConfig, removePlugin } from './conflist.js';
import { BACKUP_SUFFIX, install, uninstall, watchConflist } from './install.js';

// A conflist as a cluster network plugin would write it (own formatting, kept on restore).
const FLANNEL = `{
    "name": "cbr0",
    "cniVersion": "0.4.0",
    "plugins": [
        { "type": "flannel", "delegate": { "hairpinMode": true, "isDefaultGateway": true } },
        { "type": "portmap", "capabilities": { "portMappings": true } }
    ]
}
`;

describe('conflist edits', () => {
  it('appends ambit-cni once and is idempotent', () => {
    const a = insertPlugin(FLANNEL, { type: 'ambit-cni', agentSocket: '/run/a.sock' });
    expect(a.changed).toBe(true);
    const plugins = (JSON.parse(a.text) as { plugins: Array<{ type: string }> }).plugins;
    expect(plugins.map((p) => p.type)).toEqual(['flannel', 'portmap', 'ambit-cni']);
    expect(insertPlugin(a.text, { type: 'ambit-cni', agentSocket: '/run/a.sock' })).toEqual({
      text: a.text,
      changed: false,
    });
    // a changed setting replaces our entry, still last and single
    const b = insertPlugin(a.text, { type: 'ambit-cni', agentSocket: '/run/b.sock' });
    expect(b.changed).toBe(true);
    expect(
      (JSON.parse(b.text) as { plugins: Array<{ type: string; agentSocket?: string }> }).plugins.filter(
        (p) => p.type === 'ambit-cni',
      ),
    ).toEqual([{ type: 'ambit-cni', agentSocket: '/run/b.sock' }]);
    expect(JSON.parse(removePlugin(b.text).text)).toEqual(JSON.parse(FLANNEL));
  });

  it('moves our entry back to the end when another plugin was appended after it', () => {
    const withUs = insertPlugin(FLANNEL, { type: 'ambit-cni' }).text;
    const obj = JSON.parse(withUs) as { plugins: unknown[] };
    obj.plugins.push({ type: 'bandwidth' });
    const fixed = insertPlugin(JSON.stringify(obj), { type: 'ambit-cni' });
    expect(fixed.changed).toBe(true);
    expect((JSON.parse(fixed.text) as { plugins: Array<{ type: string }> }).plugins.map((p) => p.type)).toEqual([
      'flannel',
      'portmap',
      'bandwidth',
      'ambit-cni',
    ]);
  });

  it('refuses files it cannot chain into, naming the file', () => {
    expect(() =>
      insertPlugin(
        '{"cniVersion":"0.4.0","name":"x","type":"bridge"}',
        { type: 'ambit-cni' },
        '/etc/cni/net.d/10-x.conf',
      ),
    ).toThrow(/10-x.conf: has no "plugins" list/);
    expect(() => insertPlugin('{oops', { type: 'ambit-cni' }, 'f.conflist')).toThrow(/f.conflist: not valid JSON/);
  });

  it('picks the lexically first config file as the runtime does', () => {
    expect(primaryConfig(['99-loopback.conf', '10-flannel.conflist', 'README', '10-flannel.conflist.ambit-orig'])).toBe(
      '10-flannel.conflist',
    );
    expect(primaryConfig(['README'])).toBeUndefined();
  });
});

describe('install / uninstall on a conf dir', () => {
  let dir: string;
  let binDir: string;
  let confDir: string;
  const exe = Buffer.from('#!/bin/sh\necho plugin\n');
  const opts = () => ({ binDir, confDir, executable: exe, pluginConf: { agentSocket: '/run/ambit/agent.sock' } });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-cni-install-'));
    binDir = join(dir, 'bin');
    confDir = join(dir, 'net.d');
    await import('node:fs/promises').then((fs) => Promise.all([fs.mkdir(binDir), fs.mkdir(confDir)]));
    await writeFile(join(confDir, '10-flannel.conflist'), FLANNEL);
    await writeFile(join(confDir, '99-loopback.conf'), '{"cniVersion":"0.4.0","name":"lo","type":"loopback"}');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('installs the executable and the chain entry; a re-run changes nothing; uninstall restores the original bytes', async () => {
    const first = await install(opts());
    expect(first).toEqual({ binaryChanged: true, conflist: '10-flannel.conflist', conflistChanged: true });
    const st = await stat(join(binDir, 'ambit-cni'));
    expect(st.mode & 0o111).not.toBe(0);
    expect(await readFile(join(binDir, 'ambit-cni'))).toEqual(exe);
    const installed = await readFile(join(confDir, '10-flannel.conflist'), 'utf8');
    expect((JSON.parse(installed) as { plugins: Array<{ type: string }> }).plugins.at(-1)).toEqual({
      type: 'ambit-cni',
      agentSocket: '/run/ambit/agent.sock',
    });
    const mtime = (await stat(join(confDir, '10-flannel.conflist'))).mtimeMs;

    expect(await install(opts())).toEqual({
      binaryChanged: false,
      conflist: '10-flannel.conflist',
      conflistChanged: false,
    });
    expect(await readFile(join(confDir, '10-flannel.conflist'), 'utf8')).toBe(installed);
    expect((await stat(join(confDir, '10-flannel.conflist'))).mtimeMs).toBe(mtime);
    // other files untouched
    expect(await readFile(join(confDir, '99-loopback.conf'), 'utf8')).toBe(
      '{"cniVersion":"0.4.0","name":"lo","type":"loopback"}',
    );

    expect(await uninstall(opts())).toEqual({ restored: ['10-flannel.conflist'] });
    expect(await readFile(join(confDir, '10-flannel.conflist'), 'utf8')).toBe(FLANNEL);
    expect((await readdir(confDir)).sort()).toEqual(['10-flannel.conflist', '99-loopback.conf']);
    expect(await readdir(binDir)).toEqual([]);
    // uninstall twice is fine
    expect(await uninstall(opts())).toEqual({ restored: [] });
  });

  it('uninstall keeps changes others made to the chain after install', async () => {
    await install(opts());
    const path = join(confDir, '10-flannel.conflist');
    const obj = JSON.parse(await readFile(path, 'utf8')) as { plugins: Array<Record<string, unknown>> };
    obj.plugins.splice(1, 0, { type: 'bandwidth' });
    await writeFile(path, JSON.stringify(obj));
    await uninstall(opts());
    const after = JSON.parse(await readFile(path, 'utf8')) as { plugins: Array<{ type: string }> };
    expect(after.plugins.map((p) => p.type)).toEqual(['flannel', 'bandwidth', 'portmap']);
    expect(await readdir(confDir)).not.toContain('10-flannel.conflist' + BACKUP_SUFFIX);
  });

  it('fails clearly without any conflist', async () => {
    await rm(join(confDir, '10-flannel.conflist'));
    await rm(join(confDir, '99-loopback.conf'));
    await expect(install(opts())).rejects.toThrow(/no CNI network config in/);
  });

  it('watch mode re-inserts the entry when another plugin rewrites the conflist', async () => {
    await install(opts());
    const path = join(confDir, '10-flannel.conflist');
    const events: string[] = [];
    const w = watchConflist(opts(), (ev) => events.push(ev.error ? `error ${ev.error.message}` : `changed ${ev.file}`));
    try {
      await new Promise((r) => setTimeout(r, 200));
      await writeFile(path, FLANNEL); // the network plugin rewrites its config without us
      await expect
        .poll(
          async () =>
            (JSON.parse(await readFile(path, 'utf8')) as { plugins: Array<{ type: string }> }).plugins.at(-1)?.type,
          { timeout: 5000 },
        )
        .toBe('ambit-cni');
      expect(events).toContain('changed 10-flannel.conflist');
    } finally {
      w.close();
    }
  });
});
