// The proxy-wasm host on its own: the example plugin through a VM worker, and the sandbox's
// limits (a module that traps, loops, or grows its memory past the limit; a wrong sha256).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/log.js';
import type { WasmPluginConfig } from '../../../core/model/l7.js';
import { buildHeaderDeny, watToWasm } from '../../../examples/wasm-header-deny/build.js';
import { decodeHeaderMap, encodeHeaderMap } from './abi.js';
import { checkModule, loadFileModule } from './load.js';
import { capMemory, declaredMemoryPages, sha256Hex } from './module-check.js';
import { WasmPluginRunner } from './runner.js';
import type { RequestCall } from './vm.js';
import { wasm } from './wasm-api.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wasm-'));
const log = createLogger('wasm-test');
const runners: WasmPluginRunner[] = [];

/** A module from WAT whose proxy_on_request_headers body is `body` (memory: `memory` pages). */
function module(name: string, body: string, memory = 1): Buffer {
  const file = path.join(dir, `${name}.wat`);
  writeFileSync(
    file,
    `(module (memory (export "memory") ${memory})
       (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) ${body}))`,
  );
  return watToWasm(file, path.join(dir, `${name}.wasm`));
}

function runner(bytes: Uint8Array, opts: { timeoutMs?: number; pages?: number; config?: string } = {}) {
  const r = new WasmPluginRunner(
    { key: 'shop/test', bytes, pluginConfig: opts.config ?? '', maxMemoryPages: opts.pages ?? 16 },
    opts.timeoutMs ?? 10_000,
    log,
  );
  runners.push(r);
  return r;
}

const request = (p: string): RequestCall => ({
  headers: [
    [':path', p],
    ['host', 'shop'],
  ],
  properties: { 'request.path': p, 'request.method': 'GET' },
});

afterAll(() => runners.forEach((r) => r.close()));

describe('proxy-wasm host', () => {
  const example = buildHeaderDeny(dir);

  it('runs the example: a local 403 for /admin, the pluginConfig as a request header otherwise', async () => {
    const r = runner(example.bytes, { config: '{"greeting":"hi"}' });
    const denied = await r.call(request('/admin/users'));
    expect(denied.localResponse).toEqual({
      status: 403,
      body: 'denied by wasm-header-deny',
      headers: [['x-denied-by', 'wasm']],
    });
    const passed = await r.call(request('/menu'));
    expect(passed.localResponse).toBeUndefined();
    expect(passed.headers).toContainEqual(['x-wasm-greeting', '{"greeting":"hi"}']);
    expect(passed.headers).toContainEqual(['host', 'shop']);
    expect(passed.context).toBeDefined();
    const response = await r.respond({ context: passed.context!, headers: [['content-type', 'text/plain']] });
    expect(response.headers).toEqual([
      ['content-type', 'text/plain'],
      ['x-wasm-plugin', 'wasm-header-deny'],
    ]);
    // The context ended with its response: a second answer for it is not the plugin's.
    expect((await r.respond({ context: passed.context!, headers: [] })).headers).toEqual([]);
  });

  it('a trapping call fails, and so does the next (a fresh instance traps again)', async () => {
    const r = runner(module('trap', 'unreachable'));
    await expect(r.call(request('/'))).rejects.toThrow(/unreachable/);
    await expect(r.call(request('/'))).rejects.toThrow(/unreachable/);
  });

  it('a looping call is stopped at the time limit, and again on the next call (a new worker)', async () => {
    // The second call can only be answered (stopped again) by a new worker: the first is terminated.
    const r = runner(module('loop', '(loop $l (br $l)) (i32.const 0)'), { timeoutMs: 300 });
    const started = Date.now();
    await expect(r.call(request('/loop'))).rejects.toThrow(/exceeded 300 ms/);
    expect(Date.now() - started).toBeLessThan(60_000);
    await expect(r.call(request('/loop'))).rejects.toThrow(/exceeded 300 ms/);
  });

  it('memory cannot grow past maxMemoryPages: memory.grow fails inside the module', async () => {
    // Traps when a grow by $n pages fails, so the test sees which grows the cap let through.
    const grow = (n: number) =>
      module(
        `grow${n}`,
        `(if (i32.eq (memory.grow (i32.const ${n})) (i32.const -1)) (then unreachable)) (i32.const 0)`,
      );
    await expect(runner(grow(7), { pages: 8 }).call(request('/'))).resolves.toBeDefined();
    await expect(runner(grow(8), { pages: 8 }).call(request('/'))).rejects.toThrow(/unreachable/);
    await expect(runner(grow(100_000), { pages: 8 }).call(request('/'))).rejects.toThrow(/unreachable/);
  });

  it('capMemory sets the maximum and keeps the module valid', () => {
    const bytes = module('capped', '(i32.const 0)', 3);
    const capped = capMemory(bytes, 5);
    expect(declaredMemoryPages(capped)).toEqual([3]);
    expect(() => new wasm.Module(capped)).not.toThrow();
    expect(capped.length).toBeGreaterThan(bytes.length);
  });

  it('a module declaring more memory than allowed, or with another sha256, is refused naming the field', () => {
    const plugin = (over: Partial<WasmPluginConfig>): WasmPluginConfig => ({
      key: 'shop/deny',
      url: pathToFileURL(example.file).href,
      phase: 'AUTHZ',
      priority: 0,
      failStrategy: 'FAIL_CLOSE',
      ...over,
    });
    expect(() => checkModule(plugin({ maxMemoryPages: 4 }), module('big', '(i32.const 0)', 9))).toThrow(
      /WasmPlugin shop\/deny: spec\.url: module declares 9 memory pages, over the limit of 4/,
    );
    expect(() => loadFileModule(plugin({ sha256: '0'.repeat(64) }))).toThrow(
      /WasmPlugin shop\/deny: spec\.sha256: module digest is [0-9a-f]{64}, not the 0{64}/,
    );
    expect(Buffer.from(loadFileModule(plugin({ sha256: sha256Hex(example.bytes) })) ?? [])).toEqual(example.bytes);
    expect(() => loadFileModule(plugin({ url: 'file:///nonexistent/x.wasm' }))).toThrow(/spec\.url: cannot read/);
  });

  it('the section walk is bounded: any bytes end in pages (or capped bytes) or an Error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(400), (tail, cut) => {
        const bytes = Uint8Array.from([...example.bytes.subarray(0, cut), ...tail]);
        try {
          expect(Array.isArray(declaredMemoryPages(bytes))).toBe(true);
          expect(capMemory(bytes, 8)).toBeInstanceOf(Uint8Array);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
    );
    expect(declaredMemoryPages(example.bytes)).toEqual([2]);
  });

  it('header maps round-trip; malformed ones are refused', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 8 }), (pairs) => {
        expect(decodeHeaderMap(encodeHeaderMap(pairs))).toEqual(pairs);
      }),
    );
    expect(decodeHeaderMap(Uint8Array.from([9, 0, 0, 0, 1]))).toBeUndefined();
  });
});
