// Stream callbacks of the proxy-wasm host beyond headers and bodies: a local reply from
// proxy_on_response_headers replaces the upstream response, trailers go to
// proxy_on_request_trailers / proxy_on_response_trailers (the body call before them says
// end_of_stream 0), request headers are readable (not writable) in later calls, and
// proxy_continue_stream / proxy_close_stream act on the stream of the running callback.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { watToWasm } from '../../../examples/wasm-header-deny/build.js';
import { localReply, type LocalReply } from '../../respond.js';
import { BodyChain, type BodyStage } from './body-chain.js';
import { WasmBodyStage, type WasmStream } from './body-stage.js';
import { FilteredBody, type Trailers } from './body-stream.js';
import type { RouterResult } from '../../upstream/router.js';
import { RequestCancel } from '../../upstream/transport-cancel.js';
import type { WasmPluginRunner } from './runner.js';
import { ProxyWasmVm, type BodyCall, type BodyOutcome } from './vm.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wasm-streams-'));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

/**
 * A module with the given callbacks. `$code` logs a result code as one digit; `$show` logs a
 * header's value (or the code when it is missing). Strings: 256 "x-user", 272 "x-added",
 * 288 "yes", 296 "grpc-status", 312 "x-drop", 320 "changed", 336 "blocked".
 */
function module(name: string, callbacks: string): ProxyWasmVm {
  const file = path.join(dir, `${name}.wat`);
  writeFileSync(
    file,
    `(module
       (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
       (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
       (import "env" "proxy_send_local_response"
         (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
       (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
       (memory (export "memory") 1)
       (data (i32.const 256) "x-user")
       (data (i32.const 272) "x-added")
       (data (i32.const 288) "yes")
       (data (i32.const 296) "grpc-status")
       (data (i32.const 312) "x-drop")
       (data (i32.const 320) "changed")
       (data (i32.const 336) "blocked")
       (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 4096))
       (func $code (param $r i32)
         (i32.store8 (i32.const 200) (i32.add (i32.const 48) (local.get $r)))
         (drop (call $log (i32.const 2) (i32.const 200) (i32.const 1))))
       (func $show (param $map i32) (param $k i32) (param $kl i32)
         (local $r i32)
         (local.set $r (call $get (local.get $map) (local.get $k) (local.get $kl) (i32.const 208) (i32.const 212)))
         (if (i32.eqz (local.get $r))
           (then (drop (call $log (i32.const 2) (i32.load (i32.const 208)) (i32.load (i32.const 212)))))
           (else (call $code (local.get $r)))))
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
       ${callbacks})`,
  );
  const bytes = watToWasm(file, path.join(dir, `${name}.wasm`));
  return new ProxyWasmVm({ key: `shop/${name}`, bytes, pluginConfig: '', maxMemoryPages: 16 });
}

/** Opens a request context whose headers say a body follows. */
function open(v: ProxyWasmVm): number {
  const out = v.onRequest({ headers: [['x-user', 'alice']], properties: {}, endOfStream: false });
  expect(out.context).toBeDefined();
  return out.context!;
}

const said = (o: { logs: Array<{ level: number; message: string }> }): string[] =>
  o.logs.filter((l) => l.level === 2).map((l) => l.message);

describe('proxy-wasm stream callbacks in the VM', () => {
  it('a local reply from proxy_on_response_headers is the answer, and ends the context', () => {
    const v = module(
      'response-reply',
      `(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
         (drop (call $reply (i32.const 418) (i32.const 0) (i32.const 0) (i32.const 336) (i32.const 7)
                            (i32.const 0) (i32.const 0) (i32.const -1)))
         (i32.const 0))
       (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))`,
    );
    const context = open(v);
    const out = v.onResponse({ context, headers: [[':status', '200']], endOfStream: false });
    expect(out.localResponse).toEqual({ status: 418, body: 'blocked', headers: [] });
    // No body call follows for an answered response: the context is gone.
    expect(() => v.onBody({ context, response: true, chunk: enc('x'), endOfStream: true })).toThrow(/no longer open/);
  });

  it('request headers are readable in a body call; a change to them is accepted and has no effect', () => {
    const v = module(
      'headers-in-body',
      `(func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
         (call $show (i32.const 0) (i32.const 256) (i32.const 6))
         (call $code (call $replace (i32.const 0) (i32.const 256) (i32.const 6) (i32.const 320) (i32.const 7)))
         (call $show (i32.const 0) (i32.const 256) (i32.const 6))
         (call $show (i32.const 2) (i32.const 256) (i32.const 6))
         (i32.const 0))`,
    );
    const out = v.onBody({ context: open(v), response: false, chunk: enc('abc'), endOfStream: true });
    // alice, Ok (ignored), still alice, response headers: NOT_FOUND (1).
    expect(said(out)).toEqual(['alice', '0', 'alice', '1']);
    expect(out.logs.some((l) => l.level === 3 && /already went on/.test(l.message))).toBe(true);
    expect(dec(out.body)).toBe('abc');
  });

  it('trailers go to proxy_on_request_trailers, edited; the body call before them has end_of_stream 0', () => {
    const v = module(
      'trailers',
      `(func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
         (call $code (local.get 2))
         (i32.const 0))
       (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
         (call $show (i32.const 1) (i32.const 296) (i32.const 11))
         (drop (call $replace (i32.const 1) (i32.const 272) (i32.const 7) (i32.const 288) (i32.const 3)))
         (drop (call $remove (i32.const 1) (i32.const 312) (i32.const 6)))
         (call $show (i32.const 0) (i32.const 256) (i32.const 6))
         (i32.const 0))`,
    );
    const trailers: Array<[string, string]> = [
      ['grpc-status', '7'],
      ['x-drop', '1'],
    ];
    const context = open(v);
    const first = v.onBody({ context, response: false, chunk: enc('abc'), endOfStream: false });
    expect(said(first)).toEqual(['0']);
    // Trailers alone: no body call, the trailers call sees them and the request headers.
    const last = v.onBody({ context, response: false, chunk: enc(''), endOfStream: true, trailers });
    expect(said(last)).toEqual(['7', 'alice']);
    expect(last.trailers).toEqual([
      ['grpc-status', '7'],
      ['x-added', 'yes'],
    ]);
    expect(last.closed).toBe(true);

    // Bytes with the trailers: the body call says end_of_stream 0, then the trailers call.
    const both = v.onBody({ context: open(v), response: false, chunk: enc('xyz'), endOfStream: true, trailers });
    expect(said(both)).toEqual(['0', '7', 'alice']);
    expect(dec(both.body)).toBe('xyz');
    // No trailers: the last body call says end_of_stream 1.
    const plain = v.onBody({ context: open(v), response: false, chunk: enc('xyz'), endOfStream: true });
    expect(said(plain)).toEqual(['1']);
    expect(plain.trailers).toBeUndefined();
  });

  it('response trailers: the context waits for them, and a reply from the trailers callback ends it', () => {
    const v = module(
      'response-trailers',
      `(func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
         (call $show (i32.const 3) (i32.const 296) (i32.const 11))
         (drop (call $reply (i32.const 500) (i32.const 0) (i32.const 0) (i32.const 336) (i32.const 7)
                            (i32.const 0) (i32.const 0) (i32.const -1)))
         (i32.const 0))`,
    );
    const context = open(v);
    // No request body callback: the request body ends without a call; the response is awaited.
    const headers = v.onResponse({ context, headers: [[':status', '200']], endOfStream: false });
    expect(headers.localResponse).toBeUndefined();
    const out = v.onBody({
      context,
      response: true,
      chunk: enc(''),
      endOfStream: true,
      trailers: [['grpc-status', '0']],
    });
    expect(said(out)).toEqual(['0']);
    expect(out.localResponse?.status).toBe(500);
    expect(out.closed).toBe(true);
  });

  it('proxy_continue_stream turns a Pause into Continue; proxy_close_stream answers 503', () => {
    const v = module(
      'continue',
      `(func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
         (call $code (call $continue (i32.const 1)))
         (call $code (call $continue (i32.const 0)))
         (i32.const 1))`,
    );
    const out = v.onBody({ context: open(v), response: false, chunk: enc('abc'), endOfStream: false });
    // The response stream is not the one running: NOT_FOUND; the request stream: Ok.
    expect(said(out)).toEqual(['1', '0']);
    expect(dec(out.body)).toBe('abc');
    expect(out.buffered).toBe(0);

    const c = module(
      'close',
      `(func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
         (call $code (call $close (i32.const 7)))
         (call $code (call $close (i32.const 0)))
         (i32.const 0))`,
    );
    const closed = c.onBody({ context: open(c), response: false, chunk: enc('abc'), endOfStream: false });
    expect(said(closed)).toEqual(['2', '0']);
    expect(closed.localResponse?.status).toBe(503);
    expect(closed.closed).toBe(true);
  });
});

describe('trailers and response replies through the body chain', () => {
  const readAll = async (r: Readable): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of r) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };

  /** A stage that marks the trailers it sees (and upper-cases nothing else). */
  const marking: BodyStage = {
    data: (chunk, _eos, trailers) => {
      if (trailers) trailers['x-seen'] = 'yes';
      return Promise.resolve(chunk);
    },
  };

  it('a response reply replaces the upstream response: its body is discarded and the contexts end', async () => {
    const chain = new BodyChain('GET', {}, true);
    let ended = 0;
    chain.onAbandon(() => ended++);
    chain.answerResponse(localReply(451, 'first'));
    chain.answerResponse(localReply(500, 'second'));
    expect(chain.responseAnswered).toBe(true);
    const upstream = new PassThrough();
    const out = (await chain.response(200, {}, upstream)) as LocalReply;
    expect(out).toMatchObject({ status: 451, body: 'first' });
    expect(upstream.destroyed).toBe(true);
    expect(ended).toBe(1);
  });

  /** Routes through the chain to an upstream answer whose body is `body` (route catches its trailers). */
  const routeTo = (chain: BodyChain, body: PassThrough) =>
    chain.route(undefined, new RequestCancel(), () =>
      Promise.resolve({ kind: 'upstream', response: { status: 200, headers: {}, body } } as unknown as RouterResult),
    );

  it('response trailers go through the stages and come out as a trailers event before the end', async () => {
    const chain = new BodyChain('POST', {}, true);
    chain.addResponseStage(marking);
    const upstream = new PassThrough();
    await routeTo(chain, upstream);
    upstream.write('abc');
    const out = (await chain.response(200, {}, upstream)) as Readable;
    const events: string[] = [];
    let got: Trailers | undefined;
    out.on('trailers', (t: Trailers) => {
      got = t;
      events.push('trailers');
    });
    out.on('end', () => events.push('end'));
    upstream.emit('trailers', { 'grpc-status': '0', gone: undefined });
    upstream.end();
    expect(await readAll(out)).toBe('abc');
    expect(got).toEqual({ 'grpc-status': '0', 'x-seen': 'yes' });
    expect(events).toEqual(['trailers', 'end']);
  });

  it('trailers that came while response callbacks ran are emitted again at the end of an untouched body', async () => {
    const chain = new BodyChain('POST', {}, true);
    const upstream = new PassThrough();
    expect((await routeTo(chain, upstream)).kind).toBe('upstream');
    upstream.end('abc');
    upstream.emit('trailers', { 'grpc-status': '0' }); // before anyone listened on the body
    const out = (await chain.response(200, {}, upstream)) as Readable;
    expect(out).toBe(upstream);
    let got: Trailers | undefined;
    out.on('trailers', (t: Trailers) => (got = t));
    expect(await readAll(out)).toBe('abc');
    expect(got).toEqual({ 'grpc-status': '0' });
  });

  it('a body that ended at its declared length passes its trailers as they came; none, no event', async () => {
    const sized = new FilteredBody(
      marking.data.bind(marking),
      3,
      () => undefined,
      () => ({ 'grpc-status': '2' }),
    );
    let got: Trailers | undefined;
    sized.on('trailers', (t: Trailers) => (got = t));
    sized.end('abc');
    expect(await readAll(sized)).toBe('abc');
    expect(got).toEqual({ 'grpc-status': '2' });

    const none = new FilteredBody(
      marking.data.bind(marking),
      undefined,
      () => undefined,
      () => ({}),
    );
    let fired = false;
    none.on('trailers', () => (fired = true));
    none.end('abc');
    expect(await readAll(none)).toBe('abc');
    expect(fired).toBe(false);
  });

  it('a stage with only a trailers callback calls its VM once, at the end, with the trailers', async () => {
    const calls: BodyCall[] = [];
    const runner = {
      body: (call: BodyCall): Promise<BodyOutcome> => {
        calls.push(call);
        return Promise.resolve({
          body: call.chunk,
          buffered: 0,
          closed: true,
          trailers: [...(call.trailers ?? []), ['x-wasm', 'seen']],
          logs: [],
        });
      },
    };
    const stream: WasmStream = {
      key: 'shop/t',
      runner: runner as unknown as WasmPluginRunner,
      context: 2,
      failOpen: false,
      bufferLimit: 1024,
      closed: false,
      bypass: false,
      failed: () => undefined,
    };
    const stage = new WasmBodyStage(stream, true, { body: false, trailers: true });
    expect(String(await stage.data(Buffer.from('ab'), false))).toBe('ab');
    expect(calls).toHaveLength(0);
    const trailers: Trailers = { 'grpc-status': '0' };
    expect(String(await stage.data(Buffer.from('cd'), true, trailers))).toBe('cd');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ endOfStream: true, trailers: [['grpc-status', '0']] });
    expect(calls[0]!.chunk.length).toBe(0); // the bytes are not sent to a VM that takes no body
    expect(trailers).toEqual({ 'grpc-status': '0', 'x-wasm': 'seen' });
    expect(stream.closed).toBe(true);
  });
});
