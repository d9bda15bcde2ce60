// The chart ships deploy/grafana/*.json as ConfigMaps for Grafana's dashboard sidecar when
// grafana.dashboards.enabled is set, and nothing otherwise.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { render, validateAgainstKubernetes } from '../support/manifests.js';
import { REPO } from '../support/local-mesh.js';

const dashboards = (objects: Awaited<ReturnType<typeof render>>) =>
  objects.filter(
    (o) =>
      o.kind === 'ConfigMap' && (o.metadata as { labels?: Record<string, string> }).labels?.grafana_dashboard === '1',
  );

describe('chart: Grafana dashboards', () => {
  it('renders one labelled ConfigMap per dashboard, each holding the file as it is', async () => {
    const objects = await render('default', [
      'grafana.dashboards.enabled=true',
      'grafana.dashboards.namespace=monitoring',
    ]);
    const maps = dashboards(objects);
    const files = (await readdir(path.join(REPO, 'deploy', 'grafana'))).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBe(5);
    expect(maps.map((m) => Object.keys(m.data as object)[0]).sort()).toEqual(files);
    for (const m of maps) {
      await validateAgainstKubernetes(m);
      expect(m.metadata.namespace).toBe('monitoring');
      const [file, text] = Object.entries(m.data as Record<string, string>)[0]!;
      expect(JSON.parse(text)).toEqual(JSON.parse(await readFile(path.join(REPO, 'deploy', 'grafana', file), 'utf8')));
    }
  }, 60_000);

  it('renders none by default', async () => {
    expect(dashboards(await render('default'))).toEqual([]);
  }, 60_000);
});
