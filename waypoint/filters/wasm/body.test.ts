// Bodies in the proxy-wasm host: proxy_get_buffer_bytes / proxy_set_buffer_bytes start and size
// semantics (pure, then through a VM running WAT modules), Pause buffering until the end of the
// body, the example body plugin, and the body chain's streaming and Content-Length handling.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildBodyFilter } from '../../../examples/wasm-body-filter/build.js';
import { watToWasm } from '../../../examples/wasm-header-deny/build.js';
import { localReply, type LocalReply } from '../../respond.js';
import type { RouterResult } from '../../upstream/router.js';
import { RequestCancel } from '../../upstream/transport-cancel.js';
import type { RequestBody } from '../context.js';
import { bufferSlice, bufferSplice } from './abi.js';
import { BodyChain, type BodyStage } from './body-chain.js';
import { WasmBodyStage, type WasmStream } from './body-stage.js';
import { FilteredBody } from './body-stream.js';
import type { WasmPluginRunner } from './runner.js';
import { ProxyWasmVm, type BodyOutcome } from './vm.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wasm-body-'));
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const U32_MAX = 0xffffffff;

/** A module with the given request-body callback; data segments from 64 hold `data`. */
function vm(name: string, requestBody: string, data = ''): ProxyWasmVm {
  const file = path.join(dir, `${name}.wat`);
  writeFileSync(
    file,
    `(module
       (import "env" "proxy_get_buffer_bytes" (func $get (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_get_buffer_status" (func $status (param i32 i32 i32) (result i32)))
       (import "env" "proxy_send_local_response"
         (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
       (memory (export "memory") 1)
       (data (i32.const 64) "${data}")
       (data (i32.const 128) "\\00\\00\\00\\00")
       (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
       (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
         ${requestBody}))`,
  );
  const wasmBytes = watToWasm(file, path.join(dir, `${name}.wasm`));
  return new ProxyWasmVm({ key: 'shop/body', bytes: wasmBytes, pluginConfig: '', maxMemoryPages: 16 });
}

/** Opens a request context (headers say a body follows) and returns its id. */
function open(v: ProxyWasmVm): number {
  const out = v.onRequest({ headers: [[':path', '/']], properties: {}, endOfStream: false });
  expect(out.context).toBeDefined();
  return out.context!;
}

const body = (v: ProxyWasmVm, context: number, chunk: string, endOfStream = true): BodyOutcome =>
  v.onBody({ context, response: false, chunk: bytes(chunk), endOfStream });

describe('buffer bytes: start and size (proxy-wasm 0.2.1)', () => {
  const hello = bytes('hello');
  const splice = (start: number, size: number) => text(bufferSplice(hello, start, size, bytes('XY')));

  it('set: prepend, append, replace whole, inject and replace a middle part', () => {
    expect(splice(0, 0)).toBe('XYhello'); // prepend
    expect(splice(5, 0)).toBe('helloXY'); // append at the end
    expect(splice(U32_MAX, 0)).toBe('helloXY'); // append with the maximum size_t
    expect(splice(-1, 0)).toBe('helloXY'); // the same, as WebAssembly hands an i32 to JS
    expect(splice(0, 5)).toBe('XY'); // replace the whole buffer
    expect(splice(0, U32_MAX)).toBe('XY'); // a size past the end replaces the rest
    expect(splice(2, 0)).toBe('heXYllo'); // inject
    expect(splice(1, 3)).toBe('hXYo'); // replace bytes 1..3
    expect(splice(3, 100)).toBe('helXY');
  });

  it('set matches a model: the bytes before start, the value, the bytes after start + size', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }),
        fc.nat(50),
        fc.nat(50),
        fc.uint8Array({ maxLength: 10 }),
        (b, s, n, v) => {
          const model = [...b.slice(0, s), ...v, ...b.slice(Math.min(s + n, b.length))];
          expect([...bufferSplice(b, s, n, v)]).toEqual(model);
        },
      ),
    );
  });

  it('get: up to max bytes from start; a start past the end is a bad argument', () => {
    expect(text(bufferSlice(hello, 0, 5))).toBe('hello');
    expect(text(bufferSlice(hello, 1, 2))).toBe('el');
    expect(text(bufferSlice(hello, 3, U32_MAX))).toBe('lo');
    expect(text(bufferSlice(hello, 3, -1))).toBe('lo');
    expect(text(bufferSlice(hello, 5, 10))).toBe('');
    expect(bufferSlice(hello, 6, 1)).toBeUndefined();
    expect(bufferSlice(hello, -1, 1)).toBeUndefined();
  });
});

describe('proxy-wasm host: request bodies in the VM', () => {
  it('proxy_set_buffer_bytes edits the body the host passes on, by start and size', () => {
    const cases: Array<[string, string, string]> = [
      ['0', '0', 'XYhello'],
      ['-1', '0', 'helloXY'],
      ['0', '5', 'XY'],
      ['2', '0', 'heXYllo'],
      ['1', '3', 'hXYo'],
    ];
    for (const [start, size, want] of cases) {
      const v = vm(
        `set${start}_${size}`.replace('-', 'm'),
        `(drop (call $set (i32.const 0) (i32.const ${start}) (i32.const ${size}) (i32.const 64) (i32.const 2)))
         (i32.const 0)`,
        'XY',
      );
      const out = body(v, open(v), 'hello');
      expect(text(out.body), `start ${start} size ${size}`).toBe(want);
    }
  });

  it('proxy_get_buffer_bytes hands the plugin the bytes asked for, and its status', () => {
    // The plugin answers locally with status 200 + the call's result and the bytes it got.
    const v = vm(
      'get',
      `(call $reply
         (i32.add (i32.const 200)
           (call $get (i32.const 0) (i32.load (i32.const 64)) (i32.load (i32.const 68)) (i32.const 256) (i32.const 260)))
         (i32.const 0) (i32.const 0) (i32.load (i32.const 256)) (i32.load (i32.const 260))
         (i32.const 128) (i32.const 4) (i32.const -1))
       (drop) (i32.const 1)`,
      // start 1, max 3 (little-endian u32s)
      '\\01\\00\\00\\00\\03\\00\\00\\00',
    );
    const out = body(v, open(v), 'hello');
    expect(out.localResponse).toEqual({ status: 200, body: 'ell', headers: [] });
    expect(out.closed).toBe(true);
  });

  it('get past the end is BAD_ARGUMENT; response-body and unknown buffer ids are not offered to a request call', () => {
    const status = (name: string, type: number, start: number) => {
      const v = vm(
        name,
        `(drop (call $reply
           (i32.add (i32.const 200)
             (call $get (i32.const ${type}) (i32.const ${start}) (i32.const 1) (i32.const 256) (i32.const 260)))
           (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 128) (i32.const 4) (i32.const -1)))
         (i32.const 1)`,
      );
      return body(v, open(v), 'hello').localResponse?.status;
    };
    expect(status('past', 0, 6)).toBe(202); // BAD_ARGUMENT
    expect(status('other', 1, 0)).toBe(201); // NOT_FOUND: the response body is not this call's
    expect(status('unknown', 9, 0)).toBe(202); // BAD_ARGUMENT: no such buffer id
  });

  it('Pause buffers until the end of the body, then the whole body is offered again with its size', () => {
    // Pause until end_of_stream; then append the body_size it was called with as one byte.
    const v = vm(
      'pause',
      `(if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
       (i32.store8 (i32.const 64) (i32.add (i32.const 48) (local.get $size)))
       (drop (call $set (i32.const 0) (i32.const -1) (i32.const 0) (i32.const 64) (i32.const 1)))
       (i32.const 0)`,
      '.',
    );
    const context = open(v);
    expect(body(v, context, 'ab', false)).toMatchObject({ buffered: 2, closed: false });
    expect(body(v, context, 'cd', false).body).toBeUndefined();
    const last = body(v, context, 'e', true);
    expect(text(last.body)).toBe('abcde5');
    expect(last.closed).toBe(true); // no response callbacks: the context ends with the request body
    expect(() => body(v, context, 'x')).toThrow(/context \d+ is no longer open/);
  });

  it('a context without body callbacks is not kept for a body; one with them is until its end', () => {
    const v = vm('keep', '(i32.const 0)');
    expect(v.onRequest({ headers: [], properties: {}, endOfStream: true }).context).toBeUndefined();
    const context = open(v);
    expect(text(body(v, context, 'one', false).body)).toBe('one');
    expect(body(v, context, 'two', true).closed).toBe(true);
  });

  it('the example: a body containing the word is denied at its end; others pass, responses get a line appended', () => {
    const example = buildBodyFilter(dir);
    const v = new ProxyWasmVm({ key: 'shop/bodies', bytes: example.bytes, pluginConfig: '', maxMemoryPages: 64 });
    const denied = open(v);
    expect(body(v, denied, 'this is for', false).body).toBeUndefined();
    expect(body(v, denied, 'bidden fruit', true).localResponse).toEqual({
      status: 403,
      body: 'request body denied by wasm-body-filter',
      headers: [['x-denied-by', 'wasm-body-filter']],
    });
    const passed = open(v);
    const big = 'a'.repeat(300_000); // grows the plugin's memory past its two initial pages
    expect(text(body(v, passed, big, true).body)).toBe(big);
    const response = (chunk: string, endOfStream: boolean) =>
      text(v.onBody({ context: passed, response: true, chunk: bytes(chunk), endOfStream }).body);
    expect(response('hello ', false)).toBe('hello ');
    expect(response('world', true)).toBe('world\n-- filtered by wasm-body-filter\n');
  });
});

/** A stage that records what it saw and applies `fn` to each piece. */
function stage(
  seen: Array<[string, boolean]>,
  fn: (chunk: string, eos: boolean) => string | LocalReply = (c) => c,
): BodyStage {
  return {
    data: (chunk, eos) => {
      seen.push([chunk.toString(), eos]);
      const out = fn(chunk.toString(), eos);
      return Promise.resolve(typeof out === 'string' ? Buffer.from(out) : out);
    },
  };
}

async function readAll(r: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('body chain', () => {
  it('streams a body no filter holds: the first piece comes out before the writer ends', async () => {
    const seen: Array<[string, boolean]> = [];
    const filtered = new FilteredBody(
      (c, eos) => stage(seen, (s) => s.toUpperCase()).data(c, eos),
      undefined,
      () => undefined,
    );
    filtered.write(Buffer.from('first'));
    await filtered.started;
    expect(filtered.read()?.toString()).toBe('FIRST');
    expect(filtered.complete).toBe(false);
    filtered.end(Buffer.from('second'));
    expect(await readAll(filtered)).toBe('SECOND');
    // No declared length: the end comes as an empty last piece.
    expect(seen).toEqual([
      ['first', false],
      ['second', false],
      ['', true],
    ]);
  });

  it('a declared length puts end_of_stream on the last piece', async () => {
    const seen: Array<[string, boolean]> = [];
    const filtered = new FilteredBody(
      (c, eos) => stage(seen).data(c, eos),
      8,
      () => undefined,
    );
    const source = new PassThrough();
    source.pipe(filtered);
    source.write('abcd');
    await filtered.started;
    source.end('efgh');
    expect(await readAll(filtered)).toBe('abcdefgh');
    expect(seen.at(-1)).toEqual(['efgh', true]);
    expect(seen.filter(([, eos]) => eos)).toHaveLength(1);

    // Bytes past the declared length (a header a filter changed) reset the stream, never vanish.
    const short = new FilteredBody(
      (c, eos) => stage([]).data(c, eos),
      3,
      () => undefined,
    );
    const failed = new Promise<Error>((resolve) => short.once('error', resolve));
    short.write('abc');
    short.write('def');
    expect((await failed).message).toMatch(/longer than its Content-Length/);
  });

  const headersOf = (h: Record<string, string>) => ({ ...h }) as Record<string, string | string[]>;
  const routeTo =
    (got: { body?: RequestBody; length?: string | string[] }, headers: Record<string, string | string[]>) =>
    (b: RequestBody): Promise<RouterResult> => {
      got.body = b;
      got.length = headers['content-length'];
      return Promise.resolve({ kind: 'local', reply: localReply(200, 'routed'), attempts: 1 });
    };

  it('request: a whole body is changed before routing and Content-Length follows; a held stream is sent whole', async () => {
    const headers = headersOf({ 'content-length': '5' });
    const chain = new BodyChain('POST', headers, false);
    chain.addRequestStage(stage([], (s) => `${s}, world`));
    const got: { body?: RequestBody; length?: string | string[] } = {};
    await chain.route(Buffer.from('hello'), new RequestCancel(), routeTo(got, headers));
    expect(String(got.body)).toBe('hello, world');
    expect(got.length).toBe('12');

    // A chunked body a filter holds to its end goes upstream as one buffer with its length.
    const held = headersOf({});
    const holding = new BodyChain('POST', held, false);
    holding.addRequestStage(stage([], (s, eos) => (eos ? 'all of it' : '')));
    const source = Readable.from([Buffer.from('a'), Buffer.from('b')]);
    const heldGot: { body?: RequestBody; length?: string | string[] } = {};
    await holding.route(source, new RequestCancel(), routeTo(heldGot, held));
    expect(Buffer.isBuffer(heldGot.body) && heldGot.body.toString()).toBe('all of it');
    expect(heldGot.length).toBe('9');
  });

  it('request: a streamed body drops Content-Length; a filter reply before routing replaces the route', async () => {
    const headers = headersOf({ 'content-length': '2000000' });
    const chain = new BodyChain('POST', headers, false, '2000000');
    chain.addRequestStage(stage([]));
    const source = new PassThrough();
    source.write(Buffer.alloc(1000, 1));
    const got: { body?: RequestBody; length?: string | string[] } = {};
    const routed = chain.route(source, new RequestCancel(), routeTo(got, headers));
    await routed;
    expect(Buffer.isBuffer(got.body)).toBe(false);
    expect(got.length).toBeUndefined();
    source.destroy();

    const denying = new BodyChain('POST', headersOf({}), false);
    let ended = 0;
    denying.onAbandon(() => ended++);
    denying.addRequestStage(stage([], () => localReply(403, 'no')));
    let routedCalls = 0;
    const result = await denying.route(Buffer.from('x'), new RequestCancel(), () => {
      routedCalls++;
      return Promise.resolve({ kind: 'local', reply: localReply(200, 'routed'), attempts: 1 });
    });
    expect(result).toMatchObject({ kind: 'local', reply: { status: 403, body: 'no' } });
    expect(routedCalls).toBe(0);
    expect(ended).toBe(1);
  });

  it('response: a body known whole gets its new Content-Length; a streamed one loses it; bodiless ones pass', async () => {
    const chain = new BodyChain('GET', {}, true);
    chain.addResponseStage(stage([], (s, eos) => (eos ? `${s}!` : s)));
    const whole = headersOf({ 'content-length': '5' });
    const out = await chain.response(200, whole, Readable.from([Buffer.from('hello')]));
    expect(out).toBeInstanceOf(Readable);
    expect(await readAll(out as Readable)).toBe('hello!');
    expect(whole['content-length']).toBe('6');

    const streamed = headersOf({ 'content-length': '10' });
    const source = new PassThrough();
    source.write('hello');
    const streaming = await chain.response(200, streamed, source);
    expect(streamed['content-length']).toBeUndefined();
    source.end('world');
    expect(await readAll(streaming as Readable)).toBe('helloworld!');

    const seen: Array<[string, boolean]> = [];
    const head = new BodyChain('HEAD', {}, true);
    head.addResponseStage(stage(seen));
    const empty = Readable.from([]);
    expect(await head.response(200, headersOf({ 'content-length': '5' }), empty)).toBe(empty);
    expect(seen).toEqual([]);
  });
});

describe('body chain: a reply after the body started upstream', () => {
  it('cancels the upstream request and answers with the reply', async () => {
    const headers: Record<string, string | string[]> = {};
    const chain = new BodyChain('POST', headers, false);
    chain.addRequestStage(stage([], (s) => (s.includes('stop') ? localReply(403, 'stopped') : s)));
    const source = new PassThrough();
    source.write('fine;');
    let upstreamSaw = '';
    const result = await chain.route(source, new RequestCancel(), (b, signal) => {
      (b as Readable).on('data', (c: Buffer) => {
        upstreamSaw += c.toString();
        if (upstreamSaw === 'fine;') source.write('stop');
      });
      // The upstream request ends when its signal is cancelled, as a transport's does.
      return new Promise((resolve) =>
        (signal as RequestCancel).onAbort(() =>
          resolve({ kind: 'local', reply: localReply(504, 'upstream request timeout', 'UT'), attempts: 1 }),
        ),
      );
    });
    expect(upstreamSaw).toBe('fine;');
    expect(result).toMatchObject({ kind: 'local', reply: { status: 403, body: 'stopped' } });
  });
});

describe('wasm body stage', () => {
  /** A stage over a fake VM that pauses until end_of_stream and then answers with `last`. */
  function pausing(response: boolean, failOpen: boolean, last: () => Promise<BodyOutcome>) {
    let held = 0;
    const runner = {
      body: (call: { chunk: Uint8Array; endOfStream: boolean }) => {
        held += call.chunk.length;
        return call.endOfStream ? last() : Promise.resolve({ buffered: held, closed: false, logs: [] });
      },
    };
    const failures: string[] = [];
    const s: WasmStream = {
      key: 'shop/p',
      runner: runner as unknown as WasmPluginRunner,
      context: 2,
      failOpen,
      bufferLimit: 10,
      closed: false,
      bypass: false,
      failed: (_err, phase) => failures.push(phase),
    };
    return { stage: new WasmBodyStage(s, response), failures, s };
  }

  it('over the limit while paused: 413 for a request, 500 for a response, whatever the failStrategy', async () => {
    const never = () => Promise.reject(new Error('not reached'));
    const request = pausing(false, true, never).stage;
    expect(await request.data(Buffer.alloc(6), false)).toEqual(Buffer.alloc(0));
    expect(await request.data(Buffer.alloc(5), false)).toMatchObject({ status: 413 });
    const response = pausing(true, true, never).stage;
    expect(await response.data(Buffer.alloc(6), false)).toEqual(Buffer.alloc(0));
    expect(await response.data(Buffer.alloc(5), true)).toMatchObject({
      status: 500,
      body: 'response body over the 10-byte body buffer limit of wasm plugin shop/p',
    });
  });

  it('a failure: FAIL_OPEN passes the held bytes untouched and bypasses the rest; FAIL_CLOSE answers 500', async () => {
    const trap = () => Promise.reject(new Error('unreachable'));
    const open = pausing(false, true, trap);
    await open.stage.data(Buffer.from('ab'), false);
    expect(String(await open.stage.data(Buffer.from('cd'), true))).toBe('abcd');
    expect(open.failures).toEqual(['request body']);
    expect(open.s.bypass).toBe(true);
    expect(String(await open.stage.data(Buffer.from('later'), false))).toBe('later');

    const closed = pausing(true, false, trap);
    await closed.stage.data(Buffer.from('ab'), false);
    expect(await closed.stage.data(Buffer.from('cd'), true)).toMatchObject({
      status: 500,
      body: 'wasm plugin shop/p failed',
    });
    expect(closed.s.closed).toBe(true);
  });
});

describe('body chain: a reply after the response began', () => {
  it('resets the response stream (its head has gone out) and ends the contexts', async () => {
    const chain = new BodyChain('GET', {}, true);
    let ended = 0;
    chain.onAbandon(() => ended++);
    chain.addResponseStage(stage([], (s) => (s === 'bad' ? localReply(500, 'late') : s)));
    const source = new PassThrough();
    source.write('good');
    const out = (await chain.response(200, {}, source)) as Readable;
    expect(out).toBeInstanceOf(Readable);
    const failed = new Promise<Error>((resolve) => out.once('error', resolve));
    expect(out.read()?.toString()).toBe('good');
    source.write('bad');
    expect((await failed).message).toMatch(/answered 500 after the response began/);
    await new Promise((r) => setImmediate(r));
    expect(source.destroyed).toBe(true);
    expect(ended).toBe(1);
  });
});
