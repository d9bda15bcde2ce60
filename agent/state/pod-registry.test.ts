import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PodRegistry } from './pod-registry.js';

const pod = (uid: string, ip: string) => ({
  uid,
  name: `p-${uid}`,
  namespace: 'shop',
  netnsPath: `/run/netns/${uid}`,
  ips: [ip],
  serviceAccount: 'sa',
});

describe('PodRegistry', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('persists pods across instances (what a restarted agent replays)', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-h3-reg-'));
    const a = new PodRegistry(dir);
    expect((await a.load()).pods).toEqual([]);
    await Promise.all([a.put(pod('1', '10.0.0.1')), a.put(pod('2', '10.0.0.2'))]);
    await a.remove('1');
    expect(await a.remove('nope')).toBe(false);
    const b = new PodRegistry(dir);
    const { pods, problems } = await b.load();
    expect(problems).toEqual([]);
    expect(pods).toEqual([pod('2', '10.0.0.2')]);
    expect(b.byIp('10.0.0.2')?.uid).toBe('2');
    expect(JSON.parse(await readFile(b.file, 'utf8')).pods).toHaveLength(1);
  });

  it('a burst of changes is on disk once each put resolves, though the file is written once per burst', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-h3-reg-'));
    const a = new PodRegistry(dir);
    await a.load();
    // Each put resolves only after a write that holds its pod; the file is read at each resolution.
    const seen = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await a.put(pod(String(i), `10.0.1.${i}`));
        const onDisk = JSON.parse(await readFile(a.file, 'utf8')) as { pods: Array<{ uid: string }> };
        return onDisk.pods.some((p) => p.uid === String(i));
      }),
    );
    expect(seen.every(Boolean)).toBe(true);
    await Promise.all([a.remove('0'), a.put(pod('40', '10.0.1.40')), a.remove('1')]);
    const { pods } = await new PodRegistry(dir).load();
    expect(pods.map((p) => p.uid).sort()).toEqual(Array.from({ length: 39 }, (_, i) => String(i + 2)).sort());
  });

  it('skips malformed entries and survives a corrupt file', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-h3-reg-'));
    const r = new PodRegistry(dir);
    await writeFile(r.file, JSON.stringify({ pods: [pod('1', '10.0.0.1'), { uid: 'x', ips: ['nope'] }] }));
    const { pods, problems } = await r.load();
    expect(pods.map((p) => p.uid)).toEqual(['1']);
    expect(problems[0]).toMatch(/pods\[1\]/);
    await writeFile(r.file, '{ torn');
    const again = await new PodRegistry(dir).load();
    expect(again.pods).toEqual([]);
    expect(again.problems[0]).toMatch(/not JSON/);
  });
});
