// WasmPlugin bodies through a real waypoint (HBONE in and out, loopback pods): the body example,
// built here from WAT with wabt, denies a request whose body holds "forbidden" (whole or
// chunked, held until its end) and appends a line to responses with Content-Length fixed up or
// streamed on as they come; a paused body over the 1 MiB limit answers 413; a plugin without
// body callbacks leaves large bodies streaming; a trapping body callback fails closed or open.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WasmPluginConfig, WaypointConfig } from '../../core/model/l7.js';
import { buildBodyFilter } from '../../examples/wasm-body-filter/build.js';
import { buildHeaderDeny, watToWasm } from '../../examples/wasm-header-deny/build.js';
import { sha256Hex } from '../../waypoint/filters/wasm/module-check.js';
import { http1Transport, type EndpointTransport } from '../../waypoint/upstream/transport.js';
import { testCa } from '../support/pki.js';
import { answerWithName, APP_PORT, to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wasm-body-e2e-'));
const APPENDED = '\n-- filtered by wasm-body-filter\n';
const MiB = 1024 * 1024;

function plugin(key: string, file: string, bytes: Buffer, over: Partial<WasmPluginConfig> = {}): WasmPluginConfig {
  return {
    key: `coffee-shop/${key}`,
    url: pathToFileURL(file).href,
    sha256: sha256Hex(bytes),
    phase: 'AUTHZ',
    priority: 10,
    failStrategy: 'FAIL_CLOSE',
    ...over,
  };
}

/** A module whose body callback for `which` traps (headers pass). */
function trapping(which: 'request' | 'response'): { file: string; bytes: Buffer } {
  const wat = path.join(dir, `trap-${which}.wat`);
  writeFileSync(
    wat,
    `(module (memory (export "memory") 1)
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
       (func (export "proxy_on_${which}_body") (param i32 i32 i32) (result i32) unreachable))`,
  );
  const file = path.join(dir, `trap-${which}.wasm`);
  return { file, bytes: watToWasm(wat, file) };
}

/**
 * A module that upper-cases every request body piece in place and lets it go on (Continue):
 * proxy_get_buffer_bytes, then proxy_set_buffer_bytes with start 0 and the piece's size.
 */
function upperCasing(): { file: string; bytes: Buffer } {
  const wat = path.join(dir, 'upper.wat');
  writeFileSync(
    wat,
    `(module
       (import "env" "proxy_get_buffer_bytes" (func $get (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
       (memory (export "memory") 1)
       ;; One piece at a time at 1024; memory grows to hold it.
       (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
         (local $short i32)
         (local.set $short (i32.sub (i32.add (i32.const 1024) (local.get $n))
                                    (i32.mul (memory.size) (i32.const 65536))))
         (if (i32.gt_s (local.get $short) (i32.const 0))
           (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $short) (i32.const 16)) (i32.const 1)))
                             (i32.const -1))
                   (then unreachable))))
         (i32.const 1024))
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
       (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
         (local $p i32) (local $i i32) (local $c i32)
         (if (i32.eqz (local.get $size)) (then (return (i32.const 0))))
         (drop (call $get (i32.const 0) (i32.const 0) (local.get $size) (i32.const 16) (i32.const 20)))
         (local.set $p (i32.load (i32.const 16)))
         (block $done (loop $next
           (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
           (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
           (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
             (then (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br $next)))
         (drop (call $set (i32.const 0) (i32.const 0) (local.get $size) (local.get $p) (local.get $size)))
         (i32.const 0)))`,
  );
  const file = path.join(dir, 'upper.wasm');
  return { file, bytes: watToWasm(wat, file) };
}

/** A body sent in pieces without a length (chunked), each piece on its own tick. */
function pieces(...parts: Array<string | Buffer>): Readable {
  return Readable.from(
    (async function* gen() {
      for (const p of parts) {
        yield typeof p === 'string' ? Buffer.from(p) : p;
        await new Promise((r) => setImmediate(r));
      }
    })(),
  );
}

async function text(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('waypoint: WasmPlugin request and response bodies', () => {
  let w: WaypointHarness;
  let base: (plugins: WasmPluginConfig[]) => WaypointConfig;
  let bodies: WasmPluginConfig;
  /** Streams request bodies (chunked) through its own tunnels. */
  let streaming: EndpointTransport;

  const post = (body: Readable | Buffer | undefined, headers: Record<string, string> = {}) =>
    streaming.request({
      method: 'POST',
      path: '/upload',
      authority: `customer-service:${APP_PORT}`,
      headers,
      body,
      signal: AbortSignal.timeout(60_000),
    });

  beforeAll(async () => {
    const built = buildBodyFilter(dir);
    bodies = plugin('bodies', built.file, built.bytes);
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 215);
    base = (plugins) =>
      waypointConfig(
        [{ source: 'default', matches: [], destinations: [to(undefined)] }],
        [w.cluster(undefined, () => true)],
        { wasmPlugins: plugins, version: `wasm-body-${Math.random()}` },
      );
    await w.startWaypoint(base([bodies]));
    streaming = http1Transport(() => w.rawTunnel());
  }, 60_000);

  afterAll(async () => {
    streaming?.close();
    await w?.close();
  });

  const pod = () => w.pods[0]!;

  it('denies a whole request body containing the word with the plugin reply; the service never sees it', async () => {
    pod().behaviour = answerWithName;
    const before = pod().seen.length;
    const denied = await w.request({ method: 'POST', path: '/order', body: 'a forbidden drink' });
    expect(denied.status).toBe(403);
    expect(denied.body).toBe('request body denied by wasm-body-filter');
    expect(denied.headers['x-denied-by']).toBe('wasm-body-filter');
    // The same over HTTP/2 from the client.
    const h2 = await w.request({ method: 'POST', path: '/order', body: 'a forbidden drink', h2: true });
    expect(h2.status).toBe(403);
    expect(h2.body).toBe('request body denied by wasm-body-filter');
    expect(pod().seen.length).toBe(before);
    const ok = await w.request({ method: 'POST', path: '/order', body: 'a cortado', h2: true });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(`hello from ${pod().ip}${APPENDED}`);
    expect(pod().seen.at(-1)?.body).toBe('a cortado');
  });

  it('passes other bodies on unchanged and appends to the response, Content-Length fixed up', async () => {
    pod().behaviour = (_req, res, body) => {
      const answer = `got ${body}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(answer)) });
      res.end(answer);
    };
    try {
      const ok = await w.request({ method: 'POST', path: '/order', body: 'a flat white' });
      expect(ok.status).toBe(200);
      expect(pod().seen.at(-1)?.body).toBe('a flat white');
      expect(pod().seen.at(-1)?.headers['content-length']).toBe('12');
      expect(ok.body).toBe(`got a flat white${APPENDED}`);
      // The whole answer normally arrives as one piece, so its new length is known before the
      // head goes out; were it split, the waypoint streams it without a length (never a stale one).
      expect([undefined, String(Buffer.byteLength(ok.body))]).toContain(ok.headers['content-length']);
      expect(ok.headers['transfer-encoding']).toBeUndefined();
    } finally {
      pod().behaviour = answerWithName;
    }
  });

  it('a chunked body is held until its end: the word split over two pieces is still found', async () => {
    const before = pod().seen.length;
    const denied = await post(pieces('a forb', 'idden drink'));
    expect(denied.status).toBe(403);
    expect(await text(denied.body)).toBe('request body denied by wasm-body-filter');
    expect(pod().seen.length).toBe(before);

    const ok = await post(pieces('an ', 'espresso'));
    expect(ok.status).toBe(200);
    await text(ok.body);
    const seen = pod().seen.at(-1)!;
    expect(seen.body).toBe('an espresso');
    // Held whole, the body went upstream as one with its length.
    expect(seen.headers['content-length']).toBe('11');
  });

  it('a paused body over the 1 MiB buffer limit answers 413 and never reaches the service', async () => {
    const before = pod().seen.length;
    const big = await post(pieces(...Array.from({ length: 24 }, () => Buffer.alloc(64 * 1024, 'a'))));
    expect(big.status).toBe(413);
    expect(await text(big.body)).toMatch(/Payload Too Large: request body over the 1048576-byte body buffer limit/);
    expect(pod().seen.length).toBe(before);
  });

  it('a response is streamed: its first piece reaches the client before the service ends it', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    pod().behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part one;');
      void released.then(() => res.end('part two'));
    };
    try {
      const res = await post(Buffer.from('a latte'));
      expect(res.status).toBe(200);
      // The service holds the rest back until the client has the first piece: a waypoint
      // that buffered the response would never deliver it and the wait below would time out.
      const it = res.body[Symbol.asyncIterator]();
      let got = '';
      while (!got.includes('part one;')) {
        const next = (await Promise.race([
          it.next(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('no first piece in 30 s')), 30_000).unref()),
        ])) as IteratorResult<Buffer>;
        expect(next.done).toBe(false);
        got += next.value.toString();
      }
      expect(got).not.toContain('part two');
      release();
      for (let next = await it.next(); !next.done; next = await it.next()) got += (next.value as Buffer).toString();
      expect(got).toBe(`part one;part two${APPENDED}`);
      expect(res.headers['content-length']).toBeUndefined();
    } finally {
      release();
      pod().behaviour = answerWithName;
    }
  });

  it('a plugin without body callbacks never holds bodies: a 2 MiB chunked body streams through', async () => {
    const header = buildHeaderDeny(dir);
    expect(w.runtime.apply(base([plugin('header-deny', header.file, header.bytes, { pluginConfig: {} })]))).toEqual([]);
    const res = await post(pieces(...Array.from({ length: 32 }, () => Buffer.alloc(64 * 1024, 'b'))));
    expect(res.status).toBe(200);
    await text(res.body);
    expect(pod().seen.at(-1)?.body.length).toBe(2 * MiB);
    expect(w.runtime.apply(base([bodies]))).toEqual([]);
  });

  it('a body the plugin does not pause streams through changed, past the buffer limit, without a stale length', async () => {
    const upper = upperCasing();
    expect(w.runtime.apply(base([plugin('upper', upper.file, upper.bytes)]))).toEqual([]);
    try {
      const piece = 'latte '.repeat(10_000); // 60,000 bytes
      const res = await post(pieces(...Array.from({ length: 40 }, () => piece))); // 2.4 MB, over 1 MiB
      expect(res.status).toBe(200);
      await text(res.body);
      const seen = pod().seen.at(-1)!;
      expect(seen.body).toBe('LATTE '.repeat(400_000));
      expect(seen.headers['content-length']).toBeUndefined();
      expect(seen.headers['transfer-encoding']).toBe('chunked');

      // With a declared length the body (over the replay limit, so streamed) loses it upstream.
      const declared = Buffer.from('mocha '.repeat(200_000));
      const sized = await post(declared, { 'content-length': String(declared.length) });
      expect(sized.status).toBe(200);
      await text(sized.body);
      expect(pod().seen.at(-1)?.body).toBe('MOCHA '.repeat(200_000));
      expect(pod().seen.at(-1)?.headers['content-length']).toBeUndefined();
    } finally {
      expect(w.runtime.apply(base([bodies]))).toEqual([]);
    }
  });

  it('a trapping body callback: FAIL_CLOSE answers 500, FAIL_OPEN passes the body untouched', async () => {
    const request = trapping('request');
    const closed = plugin('trap-request', request.file, request.bytes);
    expect(w.runtime.apply(base([closed]))).toEqual([]);
    const failed = await w.request({ method: 'POST', path: '/order', body: 'a mocha' });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatch(/wasm plugin coffee-shop\/trap-request failed/);

    expect(w.runtime.apply(base([{ ...closed, failStrategy: 'FAIL_OPEN' }]))).toEqual([]);
    expect((await w.request({ method: 'POST', path: '/order', body: 'a mocha' })).status).toBe(200);
    expect(pod().seen.at(-1)?.body).toBe('a mocha');

    // A response body callback that fails before anything went out: the client gets a 500.
    const response = trapping('response');
    expect(w.runtime.apply(base([plugin('trap-response', response.file, response.bytes)]))).toEqual([]);
    const lost = await w.request({ path: '/menu' });
    expect(lost.status).toBe(500);
    expect(lost.body).toMatch(/wasm plugin coffee-shop\/trap-response failed/);
    expect(w.runtime.apply(base([bodies]))).toEqual([]);
  });
});
