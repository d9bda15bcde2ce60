import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileSource } from '../../controller/sources/file.js';
import type { SourceEvent } from '../../controller/sources/types.js';
import { ObjectStore } from '../../controller/state/objects.js';
import { translate } from '../../controller/translate/index.js';
import { localApply, localDelete } from './apply.js';
import { portsFor, writeRecord, type LocalRecord } from './state.js';

const POLICY = (principal: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: pay, namespace: shop }
spec:
  action: ALLOW
  rules: [{ from: [{ source: { principals: ["${principal}"] } }] }]
`;

const EXAMPLE = path.resolve('examples/coffee-shop');
const MUTUAL = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: external-api, namespace: coffee-shop }
spec:
  host: api.external.example
  trafficPolicy:
    portLevelSettings:
      - port: { number: 80 }
        tls: { mode: MUTUAL, credentialName: external-api, sni: api.external.example }
`;

describe('local apply / delete', () => {
  let stateDir: string;
  let input: string;
  const out: string[] = [];
  beforeEach(async () => {
    out.length = 0;
    stateDir = await mkdtemp(path.join(tmpdir(), 'ambit-apply-'));
    input = await mkdtemp(path.join(tmpdir(), 'ambit-apply-in-'));
    const record: LocalRecord = {
      version: 1,
      pid: process.pid,
      startedAt: '',
      dir: input,
      stateDir,
      configDir: path.join(stateDir, 'config'),
      bridge: 'b',
      podCidr: '10.1.0.0/24',
      nodeName: 'n',
      ports: portsFor(0),
      pods: [],
      planned: [],
      processes: [],
      etcNetns: [],
      serviceVips: [{ namespace: 'shop', name: 'web', vips: ['10.96.1.2'] }],
    };
    await mkdir(record.configDir);
    await writeFile(path.join(record.configDir, 'policies.yaml'), POLICY('cluster.local/ns/shop/sa/a'));
    await writeRecord(record);
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
    await rm(input, { recursive: true, force: true });
  });

  it('upserts objects by key into the watched folder, pins Service VIPs, skips pods; delete removes them', async () => {
    await writeFile(
      path.join(input, 'new.yaml'),
      `${POLICY('cluster.local/ns/shop/sa/b')}---\napiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec: { ports: [{ port: 80 }] }\n---\napiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: shop }\nspec: {}\n`,
    );
    await localApply(stateDir, [path.join(input, 'new.yaml')], (l) => out.push(l));
    expect(out).toEqual([
      'Pod/shop/p: skipped (pods are started by `local up`; restart it to add or change pods)',
      'AuthorizationPolicy/shop/pay configured',
      'Service/shop/web configured',
    ]);
    const config = path.join(stateDir, 'config');
    expect((await readdir(config)).sort()).toEqual(['new.yaml']); // the old copy of the policy was removed from policies.yaml (now empty)
    const text = await readFile(path.join(config, 'new.yaml'), 'utf8');
    expect(text).toContain('sa/b');
    expect(text).toContain('clusterIP: 10.96.1.2');
    expect(text).not.toContain('kind: Pod');

    out.length = 0;
    await localDelete(stateDir, [path.join(input, 'new.yaml')], (l) => out.push(l));
    expect(out.at(-1)).toBe('AuthorizationPolicy/shop/pay, Service/shop/web deleted');
    expect(await readdir(config)).toEqual([]);
    await localDelete(stateDir, [path.join(input, 'new.yaml')], (l) => out.push(l));
    expect(out.at(-1)).toMatch(/: not found$/);
  });

  it('says that a new waypoint Gateway needs a restart of local up', async () => {
    const gw = (name: string) =>
      `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: ${name}, namespace: shop }\nspec: { gatewayClassName: ambit-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }\n`;
    await writeFile(path.join(input, 'gw.yaml'), gw('wp'));
    await localApply(stateDir, [path.join(input, 'gw.yaml')], (l) => out.push(l));
    expect(out).toEqual([
      'Gateway/shop/wp configured',
      'Gateway/shop/wp: its waypoint pod is started by `local up` only: restart it to run this waypoint',
    ]);
  });

  it('names a missing input and a missing mesh', async () => {
    await expect(localApply(stateDir, [path.join(input, 'nope.yaml')])).rejects.toThrow(
      /nope.yaml: no such file or directory/,
    );
    await expect(localApply(path.join(input, 'none'), [input])).rejects.toThrow(/no local mesh running from/);
  });

  // One object moved between files, through the controller's file source, store and translation:
  // the waypoint's cluster ends with the TLS of the last apply and the rule is never deleted.
  it("coffee-shop's egress DestinationRule: MUTUAL from mutual.yaml, then egress.yaml again → SIMPLE", async () => {
    // The coffee-shop example as `local up` copies it into the watched folder.
    const configDir = path.join(stateDir, 'config');
    await rm(path.join(configDir, 'policies.yaml'));
    for (const f of await readdir(EXAMPLE))
      if (f.endsWith('.yaml')) await copyFile(path.join(EXAMPLE, f), path.join(configDir, f));
    const store = new ObjectStore();
    const ruleEvents: string[] = [];
    const onEvent = (e: SourceEvent): void => {
      store.apply(e);
      if (e.type !== 'SYNCED' && e.type !== 'ERROR' && e.object.kind === 'DestinationRule')
        ruleEvents.push(`${e.type} ${e.object.metadata.name}`);
    };
    const source = new FileSource({ path: configDir, debounceMs: 10_000 });
    await source.start(onEvent);
    try {
      const tlsMode = (): string | undefined => {
        const clusters = [...translate(store.objects()).waypoints.values()].flatMap((w) => w.clusters);
        return clusters.find((c) => c.host === 'api.external.example')?.trafficPolicy.tls?.mode;
      };
      expect(tlsMode()).toBe('SIMPLE');

      const mutual = path.join(stateDir, 'mutual.yaml');
      await writeFile(mutual, MUTUAL);
      await localApply(stateDir, [mutual], () => {});
      await source.refresh();
      expect(tlsMode()).toBe('MUTUAL');

      await localApply(stateDir, [path.join(EXAMPLE, 'egress.yaml')], () => {});
      await source.refresh();
      expect(tlsMode()).toBe('SIMPLE');
      expect(ruleEvents.filter((e) => e.includes('external-api') && e.startsWith('DELETED'))).toEqual([]);
      expect((await readdir(configDir)).includes('mutual.yaml')).toBe(false);
    } finally {
      await source.stop();
    }
  });
});
