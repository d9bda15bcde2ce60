// WasmPlugin through a real waypoint (HBONE in and out, loopback pods): the example plugin,
// built here from WAT with wabt, denies /admin with a local 403, adds a request header from
// its pluginConfig and a response header; a wrong sha256 is refused naming the plugin and field while the last good
// config keeps serving; a trapping module fails closed (500) or open (passes) as configured.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WasmPluginConfig, WaypointConfig } from '../../core/model/l7.js';
import { buildHeaderDeny, watToWasm } from '../../examples/wasm-header-deny/build.js';
import { sha256Hex } from '../../waypoint/filters/wasm/module-check.js';
import { testCa } from '../support/pki.js';
import { to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';

/** Polls `check` until it holds (the fetch runs in the background). */
async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wasm-e2e-'));

function trapModule(): { url: string; sha256: string } {
  const wat = path.join(dir, 'trap.wat');
  writeFileSync(
    wat,
    `(module (memory (export "memory") 1)
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable))`,
  );
  const file = path.join(dir, 'trap.wasm');
  const bytes = watToWasm(wat, file);
  return { url: pathToFileURL(file).href, sha256: sha256Hex(bytes) };
}

describe('waypoint: WasmPlugin (proxy-wasm) filters', () => {
  let w: WaypointHarness;
  let base: (plugins: WasmPluginConfig[]) => WaypointConfig;
  let deny: WasmPluginConfig;

  beforeAll(async () => {
    const built = buildHeaderDeny(dir);
    deny = {
      key: 'coffee-shop/header-deny',
      url: pathToFileURL(built.file).href,
      sha256: sha256Hex(built.bytes),
      phase: 'AUTHZ',
      priority: 10,
      pluginConfig: { greeting: 'hi' },
      failStrategy: 'FAIL_CLOSE',
    };
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 200);
    base = (plugins) =>
      waypointConfig(
        [{ source: 'default', matches: [], destinations: [to(undefined)] }],
        [w.cluster(undefined, () => true)],
        {
          wasmPlugins: plugins,
          version: `wasm-${Math.random()}`,
        },
      );
    await w.startWaypoint(base([deny]));
  }, 60_000);

  afterAll(async () => {
    await w?.close();
  });

  it('denies /admin locally with the plugin reply; adds its headers to other requests and their responses', async () => {
    const denied = await w.request({ path: '/admin/users' });
    expect(denied.status).toBe(403);
    expect(denied.body).toBe('denied by wasm-header-deny');
    expect(denied.headers['x-denied-by']).toBe('wasm');
    expect(w.pods[0]!.seen.some((s) => s.url.startsWith('/admin'))).toBe(false);

    const ok = await w.request({ path: '/menu' });
    expect(ok.status).toBe(200);
    const seen = w.pods[0]!.seen.at(-1);
    expect(seen?.url).toBe('/menu');
    expect(seen?.headers['x-wasm-greeting']).toBe('{"greeting":"hi"}');
    expect(ok.headers['x-wasm-plugin']).toBe('wasm-header-deny');
    expect(denied.headers['x-wasm-plugin']).toBeUndefined();
  });

  it('a wrong sha256 is refused naming the WasmPlugin and field; the last good config keeps serving', async () => {
    const problems = w.runtime.apply(base([{ ...deny, sha256: 'f'.repeat(64) }]));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/WasmPlugin coffee-shop\/header-deny: spec\.sha256: module digest is [0-9a-f]{64}/);
    expect((await w.request({ path: '/admin' })).status).toBe(403);
  });

  it('plugins run by phase (AUTHN, AUTHZ, STATS, unspecified, then routing), higher priority first within one', () => {
    const at = (key: string, phase: WasmPluginConfig['phase'], priority: number): WasmPluginConfig => ({
      ...deny,
      key: `coffee-shop/${key}`,
      phase,
      priority,
    });
    expect(
      w.runtime.apply(
        base([
          at('unspecified', 'UNSPECIFIED_PHASE', 100),
          at('stats', 'STATS', 0),
          at('authz-low', 'AUTHZ', 1),
          at('authz-high', 'AUTHZ', 7),
          at('authn', 'AUTHN', -5),
        ]),
      ),
    ).toEqual([]);
    const names = w.runtime.pipeline()?.filters.map((f) => f.name) ?? [];
    expect(names.filter((n) => n.startsWith('wasm:') || n === 'route')).toEqual([
      'wasm:coffee-shop/authn',
      'wasm:coffee-shop/authz-high',
      'wasm:coffee-shop/authz-low',
      'wasm:coffee-shop/stats',
      'wasm:coffee-shop/unspecified',
      'route',
    ]);
  });

  it('a plugin that targets another service leaves this one alone', async () => {
    expect(w.runtime.apply(base([{ ...deny, services: ['coffee-shop/other.coffee-shop.svc.cluster.local'] }]))).toEqual(
      [],
    );
    expect((await w.request({ path: '/admin' })).status).toBe(200);
  });

  it('an http URL is fetched by the waypoint: failStrategy until the module is loaded, then the plugin runs', async () => {
    const bytes = readFileSync(new URL(deny.url));
    let serve = false;
    let fetches = 0;
    const server = http.createServer((_req, res) => {
      fetches++;
      if (!serve) res.writeHead(503).end();
      else res.writeHead(200, { 'content-type': 'application/wasm' }).end(bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/deny.wasm`;
      // The first fetch fails (503): FAIL_CLOSE answers 500 while the module is missing.
      expect(w.runtime.apply(base([{ ...deny, key: 'coffee-shop/fetched', url }]))).toEqual([]);
      await until(async () => (await w.request({ path: '/menu' })).status === 500);
      serve = true;
      expect(w.runtime.apply(base([{ ...deny, key: 'coffee-shop/fetched', url, priority: 11 }]))).toEqual([]);
      await until(async () => (await w.request({ path: '/admin' })).status === 403);
      expect((await w.request({ path: '/menu' })).status).toBe(200);
      // A fetched module with another digest never runs.
      const served = fetches;
      expect(w.runtime.apply(base([{ ...deny, key: 'coffee-shop/bad', url, sha256: '0'.repeat(64) }]))).toEqual([]);
      await until(async () => fetches > served);
      const end = Date.now() + 1000;
      while (Date.now() < end) expect((await w.request({ path: '/menu' })).status).toBe(500);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 60_000);

  it('a trapping module: FAIL_CLOSE answers 500, FAIL_OPEN lets the request through', async () => {
    const trap: WasmPluginConfig = {
      ...trapModule(),
      key: 'coffee-shop/trap',
      phase: 'AUTHN',
      priority: 0,
      failStrategy: 'FAIL_CLOSE',
    };
    expect(w.runtime.apply(base([trap]))).toEqual([]);
    const closed = await w.request({ path: '/menu' });
    expect(closed.status).toBe(500);
    expect(closed.body).toMatch(/wasm plugin coffee-shop\/trap failed/);

    expect(w.runtime.apply(base([{ ...trap, failStrategy: 'FAIL_OPEN' }, deny]))).toEqual([]);
    // The trap fails open, then the deny plugin still runs after it.
    expect((await w.request({ path: '/menu' })).status).toBe(200);
    expect((await w.request({ path: '/admin' })).status).toBe(403);
  });
});
