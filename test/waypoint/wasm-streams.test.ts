// WasmPlugin stream callbacks through a real waypoint (HBONE in and out, loopback pods), with a
// plugin built here from WAT with wabt:
// - proxy_on_response_headers answers 502 when the service's response carries x-leak: the
//   service answered, its response is discarded, the client gets the plugin's reply;
// - proxy_on_request_body reads the request headers (x-deny-body) and denies;
// - over HTTP/2 to a gRPC-style backend, proxy_on_response_trailers adds a trailer and copies
//   grpc-status; a trailers-only error keeps its status; proxy_on_request_trailers denies a
//   request whose trailers carry x-deny (and so it does over HTTP/1, chunked);
// - a trapping proxy_on_response_headers answers 500 under FAIL_CLOSE, passes under FAIL_OPEN.
import { mkdtempSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WasmPluginConfig } from '../../core/model/l7.js';
import { watToWasm } from '../../examples/wasm-header-deny/build.js';
import { sha256Hex } from '../../waypoint/filters/wasm/module-check.js';
import { testCa } from '../support/pki.js';
import { answerWithName, APP_PORT, to, waypointConfig, WaypointHarness } from '../support/waypoint-harness.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ambit-wasm-streams-e2e-'));
const H2_PORT = APP_PORT + 9;
const BLOCKED = 'blocked by wasm-streams';

/** The strings the module uses, laid out from 256 (32 bytes apart); WAT (offset length) for each. */
const STRINGS = [
  'x-leak',
  BLOCKED,
  'x-wasm-trailer',
  'seen',
  'x-deny',
  'grpc-status',
  'x-upstream-status',
  'x-deny-body',
] as const;
const at = (s: (typeof STRINGS)[number]): string =>
  `(i32.const ${256 + 32 * STRINGS.indexOf(s)}) (i32.const ${s.length})`;

function buildPlugin(): { file: string; bytes: Buffer } {
  const wat = path.join(dir, 'streams.wat');
  // $has: the map holds the header (its value is left at the pointer stored at 208, size at 212).
  // $block: a local reply with `status` and BLOCKED.
  writeFileSync(
    wat,
    `(module
       (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
       (import "env" "proxy_send_local_response"
         (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
       (memory (export "memory") 1)
       ${STRINGS.map((s, i) => `(data (i32.const ${256 + 32 * i}) "${s}")`).join('\n       ')}
       (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 4096))
       (func $has (param $map i32) (param $k i32) (param $kl i32) (result i32)
         (i32.eqz (call $get (local.get $map) (local.get $k) (local.get $kl) (i32.const 208) (i32.const 212))))
       (func $block (param $status i32)
         (drop (call $reply (local.get $status) (i32.const 0) (i32.const 0) ${at(BLOCKED)}
                            (i32.const 0) (i32.const 0) (i32.const -1))))
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
       (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
         (if (call $has (i32.const 0) ${at('x-deny-body')}) (then (call $block (i32.const 403))))
         (i32.const 0))
       (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
         (if (call $has (i32.const 2) ${at('x-leak')}) (then (call $block (i32.const 502))))
         (i32.const 0))
       (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
         (if (call $has (i32.const 1) ${at('x-deny')}) (then (call $block (i32.const 403))))
         (i32.const 0))
       (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
         (if (call $has (i32.const 3) ${at('grpc-status')})
           (then (drop (call $replace (i32.const 3) ${at('x-upstream-status')}
                                      (i32.load (i32.const 208)) (i32.load (i32.const 212))))))
         (drop (call $replace (i32.const 3) ${at('x-wasm-trailer')} ${at('seen')}))
         (i32.const 0)))`,
  );
  const file = path.join(dir, 'streams.wasm');
  return { file, bytes: watToWasm(wat, file) };
}

interface H2Answer {
  status: number;
  body: string;
  trailers: http2.IncomingHttpHeaders;
}

describe('waypoint: WasmPlugin response replies, trailers, and request headers in body calls', () => {
  let w: WaypointHarness;
  let h2server: http2.Http2Server;
  /** Requests the HTTP/2 backend received whole (path and trailers). */
  const h2seen: Array<{ path: string; trailers: http2.IncomingHttpHeaders }> = [];

  let plugin: WasmPluginConfig;

  beforeAll(async () => {
    const built = buildPlugin();
    plugin = {
      key: 'coffee-shop/streams',
      url: pathToFileURL(built.file).href,
      sha256: sha256Hex(built.bytes),
      phase: 'AUTHZ',
      priority: 10,
      failStrategy: 'FAIL_CLOSE',
    };
    w = new WaypointHarness(await testCa());
    await w.startPods([{ name: 'customer-v1', labels: { app: 'customer-service', version: 'v1' } }], 225);
    // The pod also serves HTTP/2 (h2c) on H2_PORT, gRPC-style: a body, then trailers.
    h2server = http2.createServer();
    h2server.on('stream', (stream, headers) => {
      const p = String(headers[':path']);
      stream.on('error', () => undefined); // a request the waypoint cancels (a plugin answered) resets it
      stream.on('trailers', (t: http2.IncomingHttpHeaders) => h2seen.push({ path: p, trailers: t }));
      stream.resume();
      stream.on('end', () => {
        if (p === '/missing') {
          // A trailers-only answer: the status in the one HEADERS frame that ends the stream.
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'nothing' },
            { endStream: true },
          );
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-upstream-trailer': '1' }));
        stream.end('answer');
      });
    });
    await new Promise<void>((resolve) => h2server.listen(H2_PORT, w.pods[0]!.ip, resolve));
    const cluster = w.cluster(undefined, () => true);
    await w.startWaypoint(
      waypointConfig([{ source: 'default', matches: [], destinations: [to(undefined)] }], [cluster], {
        wasmPlugins: [plugin],
        version: `wasm-streams-${Math.random()}`,
      }),
    );
  }, 60_000);

  afterAll(async () => {
    h2server?.close();
    await w?.close();
  });

  const pod = () => w.pods[0]!;

  /** Points the route at the backend's HTTP/2 port: the cluster speaks gRPC (HTTP/2) to H2_PORT. */
  function toH2Backend(): void {
    const cluster = w.cluster(undefined, () => true);
    const problems = w.runtime.apply(
      waypointConfig(
        [{ source: 'default', matches: [], destinations: [to(undefined)] }],
        [{ ...cluster, protocol: 'grpc', endpoints: cluster.endpoints.map((e) => ({ ...e, port: H2_PORT })) }],
        { wasmPlugins: [plugin], version: `wasm-streams-h2-${Math.random()}` },
      ),
      [],
    );
    expect(problems).toEqual([]);
  }

  it('a reply from the response headers callback replaces the upstream response the service sent', async () => {
    pod().behaviour = (req, res) => {
      const leak = req.url === '/leak';
      res.writeHead(200, { 'content-type': 'text/plain', ...(leak ? { 'x-leak': 'yes' } : {}) });
      res.end(leak ? 'secret' : `hello from ${pod().ip}`);
    };
    try {
      for (const h2 of [false, true]) {
        const before = pod().seen.length;
        const blocked = await w.request({ path: '/leak', h2 });
        expect(blocked.status).toBe(502);
        expect(blocked.body).toBe(BLOCKED);
        expect(blocked.headers['x-leak']).toBeUndefined();
        // The service did answer: the waypoint discarded it.
        expect(pod().seen.length).toBe(before + 1);
        const ok = await w.request({ path: '/fine', h2 });
        expect(ok.status).toBe(200);
        expect(ok.body).toBe(`hello from ${pod().ip}`);
      }
    } finally {
      pod().behaviour = answerWithName;
    }
  });

  it('the request body callback reads the request headers: x-deny-body denies, its absence passes', async () => {
    const before = pod().seen.length;
    const denied = await w.request({
      method: 'POST',
      path: '/order',
      body: 'a cortado',
      headers: { 'x-deny-body': '1' },
    });
    expect(denied.status).toBe(403);
    expect(denied.body).toBe(BLOCKED);
    expect(pod().seen.length).toBe(before);
    const ok = await w.request({ method: 'POST', path: '/order', body: 'a cortado', h2: true });
    expect(ok.status).toBe(200);
    expect(pod().seen.at(-1)?.body).toBe('a cortado');
  });

  it('HTTP/1 chunked request trailers reach proxy_on_request_trailers: x-deny answers 403', async () => {
    /** Writes a raw chunked request with `trailer` and reads the answer's status and body. */
    const send = async (trailer: string): Promise<{ status: number; body: string }> => {
      const tunnel = await w.rawTunnel();
      try {
        tunnel.write(
          `POST /order HTTP/1.1\r\nHost: customer-service:${APP_PORT}\r\nTransfer-Encoding: chunked\r\n` +
            `Connection: close\r\n\r\n5\r\nhello\r\n0\r\n${trailer}\r\n\r\n`,
        );
        let raw = '';
        for await (const c of tunnel) {
          raw += (c as Buffer).toString();
          const head = raw.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(raw.slice(0, head));
          if (head >= 0 && length && raw.length >= head + 4 + Number(length[1])) break;
        }
        const [head = '', body = ''] = raw.split('\r\n\r\n');
        return { status: Number(head.split(' ')[1]), body };
      } finally {
        tunnel.destroy();
      }
    };
    const denied = await send('x-deny: 1');
    expect(denied).toEqual({ status: 403, body: BLOCKED });
    const passed = await send('x-other: 1');
    expect(passed.status).toBe(200);
    expect(pod().seen.at(-1)?.body).toBe('hello');
  });

  it('a trapping response headers callback: FAIL_CLOSE answers 500 instead of the response, FAIL_OPEN passes it', async () => {
    const wat = path.join(dir, 'trap-response.wat');
    writeFileSync(
      wat,
      `(module (memory (export "memory") 1)
         (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
         (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) unreachable))`,
    );
    const file = path.join(dir, 'trap-response.wasm');
    const bytes = watToWasm(wat, file);
    const trapping = (failStrategy: WasmPluginConfig['failStrategy']): void => {
      const trap = { ...plugin, key: 'coffee-shop/trap-response', url: pathToFileURL(file).href, failStrategy };
      const config = waypointConfig(
        [{ source: 'default', matches: [], destinations: [to(undefined)] }],
        [w.cluster(undefined, () => true)],
        { wasmPlugins: [{ ...trap, sha256: sha256Hex(bytes) }], version: `wasm-streams-trap-${Math.random()}` },
      );
      expect(w.runtime.apply(config, [])).toEqual([]);
    };
    trapping('FAIL_CLOSE');
    const before = pod().seen.length;
    const closed = await w.request({ path: '/trap' });
    expect(closed.status).toBe(500);
    expect(closed.body).toBe('wasm plugin coffee-shop/trap-response failed');
    expect(pod().seen.length).toBe(before + 1); // the service answered; its response was replaced
    trapping('FAIL_OPEN');
    const open = await w.request({ path: '/trap' });
    expect(open.status).toBe(200);
    expect(open.body).toBe(`hello from ${pod().ip}`);
  });

  describe('over HTTP/2 to a gRPC-style backend', () => {
    let client: http2.ClientHttp2Session;

    beforeAll(async () => {
      toH2Backend();
      const tunnel = await w.rawTunnel();
      client = http2.connect(`http://customer-service:${APP_PORT}`, { createConnection: () => tunnel });
    });

    afterAll(() => client?.close());

    function call(p: string, trailers?: Record<string, string>): Promise<H2Answer> {
      return new Promise((resolve, reject) => {
        const req = client.request(
          { ':method': 'POST', ':path': p, 'content-type': 'application/grpc', te: 'trailers' },
          { waitForTrailers: trailers !== undefined },
        );
        if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
        let status = 0;
        let got: http2.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('trailers', (t) => (got = t));
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString(), trailers: got }));
        req.on('error', reject);
        req.setTimeout(30_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
        req.end('question');
      });
    }

    it('response trailers pass through proxy_on_response_trailers: kept, copied and added', async () => {
      const answer = await call('/shop.Customers/Get');
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('answer');
      expect(answer.trailers['grpc-status']).toBe('0');
      expect(answer.trailers['x-upstream-trailer']).toBe('1');
      expect(answer.trailers['x-upstream-status']).toBe('0');
      expect(answer.trailers['x-wasm-trailer']).toBe('seen');
    });

    it('a trailers-only error keeps its gRPC status through the plugin', async () => {
      const answer = await call('/missing');
      expect(answer.status).toBe(200);
      expect(answer.trailers['grpc-status']).toBe('5');
      expect(answer.trailers['grpc-message']).toBe('nothing');
    });

    it('request trailers reach proxy_on_request_trailers: x-deny answers 403, others pass', async () => {
      const denied = await call('/shop.Customers/Get', { 'x-deny': '1' });
      expect(denied.status).toBe(403);
      expect(denied.body).toBe(BLOCKED);
      const passed = await call('/shop.Customers/Get', { 'x-other': '1' });
      expect(passed.status).toBe(200);
      expect(passed.trailers['x-wasm-trailer']).toBe('seen');
    });
  });
});
