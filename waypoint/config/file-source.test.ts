import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import type { WaypointConfig } from '../../core/model/l7.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { decodeResource, TYPE_WAYPOINT_CONFIG } from '../../core/xds/resources.js';
import { decodeWaypointConfigFile, FileWaypointSource } from './file-source.js';

const good = (version: string): WaypointConfig => ({
  namespace: 'shop',
  waypoint: 'waypoint',
  version,
  mesh: DEFAULT_MESH_CONFIG,
  virtualHosts: [],
  clusters: [],
  authorizationPolicies: [],
  requestAuthentications: [],
  peerAuthentications: [],
});
const log = createLogger('test', { component: 'config-file' });

describe('FileWaypointSource', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bad first file, so the waypoint never starts on a config it did not understand', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-wp-fs-'));
    const file = path.join(dir, 'waypoint.json');
    await writeFile(file, JSON.stringify({ ...good('v1'), clusters: 'none' }));
    const seen: Array<WaypointConfig | undefined> = [];
    const source = new FileWaypointSource(file, log, { debounceMs: 10 });
    await expect(
      source.start((c) => {
        seen.push(c);
        return [];
      }),
    ).rejects.toThrow(/waypoint\.json: field clusters: must be an array/);
    expect(seen).toEqual([]);
    await source.stop();
  });

  it('keeps the last good config on a bad edit and applies the next good one', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-wp-fs-'));
    const file = path.join(dir, 'waypoint.yaml');
    await writeFile(file, JSON.stringify(good('v1')));
    const seen: string[] = [];
    const source = new FileWaypointSource(file, log, { debounceMs: 10 });
    await source.start((c) => {
      seen.push(c!.version);
      return [];
    });
    try {
      await writeFile(file, '{ "virtualHosts": [ broken');
      await source.reload();
      expect(source.lastErrors[0]).toMatch(/not JSON or YAML/);
      await writeFile(file, JSON.stringify(good('v2')));
      await source.reload();
      expect(seen).toEqual(['v1', 'v2']);
    } finally {
      await source.stop();
    }
  });

  it('rejects the same bad config as the discovery path, with the same field named', () => {
    for (const bad of [
      { ...good('v'), virtualHosts: null },
      { ...good('v'), namespace: '' },
      { ...good('v'), mesh: [] },
    ]) {
      const text = JSON.stringify(bad);
      let discoveryError = '';
      try {
        decodeResource(TYPE_WAYPOINT_CONFIG, 'shop', text);
      } catch (err) {
        discoveryError = (err as Error).message;
      }
      expect(discoveryError).toMatch(/^shop: field \w+: /);
      const reason = discoveryError.slice('shop: '.length);
      expect(() => decodeWaypointConfigFile(text, 'waypoint.json')).toThrow(`waypoint.json: ${reason}`);
    }
  });
});
