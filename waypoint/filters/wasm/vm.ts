// One proxy-wasm VM: a module instance with the host functions an HTTP filter uses (ABI
// 0.2.1). It runs inside a worker (vm-worker.ts), which is what bounds the time of a call;
// this file only does the ABI (and caps the module's memory, module-check.ts).
import {
  Action,
  BufferType,
  bufferSlice,
  bufferSplice,
  decodeHeaderMap,
  encodeHeaderMap,
  MapType,
  MAX_BUFFER_TYPE,
  StreamType,
  u32,
  WasmResult,
  type HeaderPairs,
} from './abi.js';
import { capMemory } from './module-check.js';
import { wasm, type WasmMemory } from './wasm-api.js';

export interface VmInit {
  readonly key: string;
  readonly bytes: Uint8Array;
  /** pluginConfig as JSON text (empty when absent). */
  readonly pluginConfig: string;
  readonly maxMemoryPages: number;
}

export interface LogLine {
  readonly level: number;
  readonly message: string;
}

export interface RequestCall {
  readonly headers: HeaderPairs;
  /** Property path (segments joined by '.') → value. */
  readonly properties: Readonly<Record<string, string>>;
  /** The request has no body (end_of_stream on its headers); true when not said. */
  readonly endOfStream?: boolean;
}

export interface LocalResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: HeaderPairs;
}

export interface ResponseCall {
  /** The context proxy_on_request_headers ran in (RequestOutcome.context). */
  readonly context: number;
  readonly headers: HeaderPairs;
  /** The response has no body. */
  readonly endOfStream?: boolean;
}

/** The next piece of a request or response body for an open context. */
export interface BodyCall {
  readonly context: number;
  readonly response: boolean;
  readonly chunk: Uint8Array;
  readonly endOfStream: boolean;
  /** The trailers that end the stream (with the last piece, endOfStream set). */
  readonly trailers?: HeaderPairs;
}

export interface BodyOutcome {
  /** The bytes to pass on; absent while the plugin pauses (the VM keeps them). */
  readonly body?: Uint8Array;
  /** Bytes the VM holds for this body after the call (0 unless paused). */
  readonly buffered: number;
  readonly localResponse?: LocalResponse;
  /** The trailers as the plugin left them (when the call carried trailers and the module takes them). */
  readonly trailers?: HeaderPairs;
  /** The context ended with this call: no further calls for it. */
  readonly closed: boolean;
  readonly logs: LogLine[];
}

export interface RequestOutcome {
  readonly headers: HeaderPairs;
  /** Set when the plugin takes response headers: the context stays open for onResponse. */
  readonly context?: number;
  readonly localResponse?: LocalResponse;
  readonly logs: LogLine[];
}

const ROOT_CONTEXT = 1;
const PAGE = 65536;
/** Request contexts awaiting a body or their response, at most (the oldest are closed first). */
const MAX_OPEN_CONTEXTS = 4096;

type Fn = (...args: number[]) => number;

/** No writable header map: body calls offer the body buffer (and read-only headers). */
const NO_MAP = -1;

/** The per-request state host functions read and edit. */
interface Stream {
  /** The header map the call may change (request or response headers, or trailers). */
  readonly map: number;
  headers: HeaderPairs;
  /**
   * Header maps the call may read but no longer change, as they already went on: the request
   * headers in later calls, the response headers in response body and trailers calls.
   */
  readonly readOnly: ReadonlyMap<number, HeaderPairs>;
  /** The stream the call is about (StreamType): proxy_continue_stream applies to it. */
  readonly direction: number;
  properties: Readonly<Record<string, string>>;
  localResponse?: LocalResponse;
  /** The plugin called proxy_continue_stream during the call: a Pause it returns is a Continue. */
  continued?: boolean;
  /** During a body call: the body buffer offered (request or response body) and its bytes. */
  body?: { readonly type: number; bytes: Uint8Array };
}

/** A request context that stays open for its body, trailers or response. */
interface OpenContext {
  readonly properties: Readonly<Record<string, string>>;
  /** The request headers as this plugin left them (read-only in later calls). */
  readonly requestHeaders: HeaderPairs;
  responseHeaders?: HeaderPairs;
}

/** What proxy_close_stream turns into: the filter API cannot reset a client stream, so it answers 503. */
const CLOSED_STREAM: LocalResponse = { status: 503, body: 'stream closed by the wasm plugin', headers: [] };

const copy = (pairs: HeaderPairs): HeaderPairs => pairs.map(([k, v]) => [k, v]);

export class ProxyWasmVm {
  private readonly exports: Record<string, unknown>;
  private readonly memory: WasmMemory;
  private logs: LogLine[] = [];
  private stream: Stream | undefined;
  private nextContext = ROOT_CONTEXT + 1;
  /** Open request contexts: their properties and headers stay readable while their body and response run. */
  private readonly open = new Map<number, OpenContext>();
  /** Bodies a plugin paused, by context: each later chunk is appended and the whole offered again. */
  private readonly paused = new Map<number, Uint8Array>();
  /** A change to a read-only header map was logged. */
  private readOnlyNoted = false;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  private readonly vmConfig = new Uint8Array(0);
  private readonly pluginConfig: Uint8Array;

  /** Instantiates and runs proxy_on_vm_start and proxy_on_configure; throws when either refuses. */
  constructor(private readonly init: VmInit) {
    this.pluginConfig = this.enc.encode(init.pluginConfig);
    const module = new wasm.Module(capMemory(init.bytes, init.maxMemoryPages));
    // A module that imports its memory gets one capped at the limit.
    const imported = new wasm.Memory({ initial: 1, maximum: init.maxMemoryPages });
    const env: Record<string, unknown> = { ...this.hostFunctions(), memory: imported };
    // Host functions Ambit does not offer (http calls, shared data, queues) answer Unimplemented.
    for (const imp of wasm.Module.imports(module))
      if (imp.kind === 'function' && imp.module === 'env' && !(imp.name in env))
        env[imp.name] = () => WasmResult.Unimplemented;
    const instance = new wasm.Instance(module, { env });
    this.exports = instance.exports;
    const own = this.exports.memory;
    this.memory = own instanceof wasm.Memory ? own : imported;
    this.checkMemory();
    this.optional('_initialize')?.();
    this.optional('_start')?.();
    this.optional('proxy_on_context_create')?.(ROOT_CONTEXT, 0);
    const started = this.optional('proxy_on_vm_start')?.(ROOT_CONTEXT, this.vmConfig.length) ?? 1;
    if (started === 0) throw new Error('proxy_on_vm_start returned false');
    const configured = this.optional('proxy_on_configure')?.(ROOT_CONTEXT, this.pluginConfig.length) ?? 1;
    if (configured === 0) throw new Error('proxy_on_configure returned false (the plugin refused its pluginConfig)');
    this.checkMemory();
  }

  takeLogs(): LogLine[] {
    const out = this.logs;
    this.logs = [];
    return out;
  }

  /**
   * One request's headers through the plugin: context create, request headers, then done and
   * delete, unless the module takes the request body or the response (the context stays open).
   */
  onRequest(call: RequestCall): RequestOutcome {
    const stream: Stream = {
      map: MapType.RequestHeaders,
      headers: copy(call.headers),
      readOnly: new Map(),
      direction: StreamType.HttpRequest,
      properties: call.properties,
    };
    this.stream = stream;
    const id = this.nextContext++;
    const eos = call.endOfStream ?? true;
    try {
      this.optional('proxy_on_context_create')?.(id, ROOT_CONTEXT);
      const status = this.optional('proxy_on_request_headers')?.(id, stream.headers.length, eos ? 1 : 0);
      if (status === Action.Pause && !stream.localResponse && !stream.continued)
        this.logs.push({ level: 3, message: 'plugin paused the request; Ambit continues it (no async host calls)' });
      const requestLater = this.has('proxy_on_request_body') || this.has('proxy_on_request_trailers');
      const later = (!eos && requestLater) || this.takesResponse();
      const waits = !stream.localResponse && later;
      if (waits) this.keepOpen(id, { properties: call.properties, requestHeaders: stream.headers });
      else this.finish(id);
      this.checkMemory();
      if (waits) return { headers: stream.headers, context: id, logs: this.takeLogs() };
    } finally {
      this.stream = undefined;
    }
    return this.headersOutcome(stream);
  }

  /** The response headers of a request whose context stayed open; it ends here unless a response body follows. */
  onResponse(call: ResponseCall): RequestOutcome {
    const open = this.open.get(call.context);
    if (!open) return { headers: call.headers, logs: this.takeLogs() };
    this.open.delete(call.context);
    const stream: Stream = {
      map: MapType.ResponseHeaders,
      headers: copy(call.headers),
      readOnly: new Map([[MapType.RequestHeaders, open.requestHeaders]]),
      direction: StreamType.HttpResponse,
      properties: open.properties,
    };
    this.stream = stream;
    const eos = call.endOfStream ?? false;
    try {
      this.optional('proxy_on_response_headers')?.(call.context, stream.headers.length, eos ? 1 : 0);
      const responseLater = this.has('proxy_on_response_body') || this.has('proxy_on_response_trailers');
      const more = !eos && !stream.localResponse && responseLater;
      if (more) this.open.set(call.context, { ...open, responseHeaders: stream.headers });
      else this.finish(call.context);
      this.checkMemory();
    } finally {
      this.stream = undefined;
    }
    return this.headersOutcome(stream);
  }

  /**
   * The next piece of a body: appended to what the plugin paused before, offered whole to
   * proxy_on_request_body or proxy_on_response_body. Continue passes the (possibly edited)
   * bytes on; Pause keeps them here until a later call continues or the body ends (at its end
   * the host continues: Ambit has no async host calls that could resume it later). Trailers
   * with the last piece go to proxy_on_*_trailers when the module exports it; the body call
   * before them then says end_of_stream 0, as in Envoy, where trailers end the stream.
   */
  onBody(call: BodyCall): BodyOutcome {
    const open = this.open.get(call.context);
    if (!open) throw new Error(`context ${call.context} is no longer open (the VM restarted or evicted it)`);
    const held = this.paused.get(call.context);
    this.paused.delete(call.context);
    const bytes = held ? bufferSplice(held, held.length, 0, call.chunk) : call.chunk;
    const type = call.response ? BufferType.ResponseBody : BufferType.RequestBody;
    const readOnly = this.readOnlyMaps(open, call.response);
    const direction = call.response ? StreamType.HttpResponse : StreamType.HttpRequest;
    const stream: Stream = { map: NO_MAP, headers: [], readOnly, direction, properties: open.properties };
    stream.body = { type, bytes };
    const trailerHook = call.response ? 'proxy_on_response_trailers' : 'proxy_on_request_trailers';
    const trailers = call.endOfStream && call.trailers && this.has(trailerHook) ? call.trailers : undefined;
    this.stream = stream;
    const eos = call.endOfStream;
    try {
      const hook = call.response ? 'proxy_on_response_body' : 'proxy_on_request_body';
      // Trailers alone (no bytes came or are held) make no body call, as Envoy.
      const skip = trailers !== undefined && bytes.length === 0;
      const bodyEos = eos && !trailers ? 1 : 0;
      const action = skip
        ? Action.Continue
        : (this.optional(hook)?.(call.context, bytes.length, bodyEos) ?? Action.Continue);
      this.checkMemory();
      const body = stream.body?.bytes ?? bytes;
      if (stream.localResponse) return this.answered(call.context, stream.localResponse);
      const pauses = action !== Action.Continue && !stream.continued;
      if (pauses && !eos) {
        this.paused.set(call.context, body);
        return { buffered: body.length, closed: false, logs: this.takeLogs() };
      }
      let outTrailers: HeaderPairs | undefined;
      if (trailers) {
        const t = this.onTrailers(call.context, trailerHook, { ...stream, map: trailerMap(call.response) }, trailers);
        if (t.localResponse) return this.answered(call.context, t.localResponse);
        outTrailers = t.headers;
      } else if (pauses)
        this.logs.push({ level: 3, message: 'plugin paused at the end of the body; Ambit continues it' });
      const closed = eos && (call.response || !this.takesResponse());
      if (closed) this.end(call.context);
      return { body, buffered: 0, closed, ...(outTrailers ? { trailers: outTrailers } : {}), logs: this.takeLogs() };
    } finally {
      this.stream = undefined;
    }
  }

  /** proxy_on_request_trailers / proxy_on_response_trailers with the trailers as the writable map. */
  private onTrailers(context: number, hook: string, base: Stream, trailers: HeaderPairs): Stream {
    const stream: Stream = { ...base, headers: copy(trailers), continued: false };
    delete stream.body;
    this.stream = stream;
    const action = this.optional(hook)?.(context, stream.headers.length) ?? Action.Continue;
    this.checkMemory();
    if (action !== Action.Continue && !stream.continued && !stream.localResponse)
      this.logs.push({ level: 3, message: 'plugin paused at the trailers; Ambit continues it' });
    return stream;
  }

  private answered(context: number, localResponse: LocalResponse): BodyOutcome {
    this.end(context);
    return { buffered: 0, localResponse, closed: true, logs: this.takeLogs() };
  }

  /** The header maps a later call may read: the request's, and in response calls the response's. */
  private readOnlyMaps(open: OpenContext, response: boolean): Map<number, HeaderPairs> {
    const maps = new Map([[MapType.RequestHeaders as number, open.requestHeaders]]);
    if (response && open.responseHeaders) maps.set(MapType.ResponseHeaders, open.responseHeaders);
    return maps;
  }

  private headersOutcome(stream: Stream): RequestOutcome {
    return {
      headers: stream.headers,
      ...(stream.localResponse ? { localResponse: stream.localResponse } : {}),
      logs: this.takeLogs(),
    };
  }

  /** Ends a context early (its stream failed or was answered elsewhere); nothing when it is not open. */
  end(context: number): void {
    this.paused.delete(context);
    if (!this.open.delete(context)) return;
    this.finish(context);
  }

  /** The module has a callback for the response, so a request context waits for it. */
  private takesResponse(): boolean {
    return ['proxy_on_response_headers', 'proxy_on_response_body', 'proxy_on_response_trailers'].some((n) =>
      this.has(n),
    );
  }

  private has(name: string): boolean {
    return this.optional(name) !== undefined;
  }

  private keepOpen(id: number, open: OpenContext): void {
    this.open.set(id, open);
    for (const old of this.open.keys()) {
      if (this.open.size <= MAX_OPEN_CONTEXTS) break;
      this.end(old);
    }
  }

  private finish(id: number): void {
    this.optional('proxy_on_done')?.(id);
    this.optional('proxy_on_delete')?.(id);
  }

  private optional(name: string): Fn | undefined {
    const f = this.exports[name];
    return typeof f === 'function' ? (f as Fn) : undefined;
  }

  private checkMemory(): void {
    const pages = this.memory.buffer.byteLength / PAGE;
    if (pages > this.init.maxMemoryPages)
      throw new Error(`memory grew to ${pages} pages, over the limit of ${this.init.maxMemoryPages}`);
  }

  private bytes(ptr: number, size: number): Uint8Array {
    const mem = new Uint8Array(this.memory.buffer);
    if (ptr < 0 || size < 0 || ptr + size > mem.length) throw new RangeError('out of bounds memory access by host');
    return mem.subarray(ptr, ptr + size);
  }

  private text(ptr: number, size: number): string {
    return this.dec.decode(this.bytes(ptr, size));
  }

  /** Copies `data` into memory the plugin allocates and writes its address and size at the two pointers. */
  private give(data: Uint8Array, retPtr: number, retSize: number): number {
    const alloc = this.optional('proxy_on_memory_allocate') ?? this.optional('malloc');
    if (!alloc) return WasmResult.Unimplemented;
    const at = data.length === 0 ? 0 : alloc(data.length);
    if (data.length > 0) this.bytes(at, data.length).set(data);
    const view = new DataView(this.memory.buffer);
    view.setUint32(retPtr, at, true);
    view.setUint32(retSize, data.length, true);
    return WasmResult.Ok;
  }

  /** A header map the current call may read: the one it may change, or one that already went on. */
  private headerMap(mapType: number): HeaderPairs | undefined {
    const s = this.stream;
    if (!s) return undefined;
    return mapType === s.map ? s.headers : s.readOnly.get(mapType);
  }

  /**
   * Changes the call's writable map. A map that already went on (request headers in a body call)
   * is read-only: the change is accepted and has no effect, as in Envoy once headers are sent
   * (an error would make SDKs that unwrap every result trap).
   */
  private editMap(mapType: number, change: (map: HeaderPairs) => HeaderPairs): number {
    const s = this.stream;
    if (!s) return WasmResult.NotFound;
    if (mapType === s.map) {
      s.headers = change(s.headers);
      return WasmResult.Ok;
    }
    if (!s.readOnly.has(mapType)) return WasmResult.NotFound;
    if (!this.readOnlyNoted)
      this.logs.push({ level: 3, message: `header map ${mapType} already went on: the plugin's changes are ignored` });
    this.readOnlyNoted = true; // once per VM: a plugin doing it on every call would flood the log
    return WasmResult.Ok;
  }

  private hostFunctions(): Record<string, Fn> {
    const key = (p: number, s: number) => this.text(p, s).toLowerCase();
    return {
      proxy_log: (level, ptr, size) => {
        this.logs.push({ level, message: this.text(ptr, size) });
        return WasmResult.Ok;
      },
      proxy_get_log_level: (retPtr) => {
        new DataView(this.memory.buffer).setUint32(retPtr, 0, true);
        return WasmResult.Ok;
      },
      proxy_get_current_time_nanoseconds: (retPtr) => {
        new DataView(this.memory.buffer).setBigUint64(retPtr, BigInt(Date.now()) * 1_000_000n, true);
        return WasmResult.Ok;
      },
      // Ambit calls no proxy_on_tick: accepted so plugins that ask still start.
      proxy_set_tick_period_milliseconds: () => WasmResult.Ok,
      proxy_get_buffer_status: (type, retSize, retFlags) => {
        if (u32(type) > MAX_BUFFER_TYPE) return WasmResult.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        const view = new DataView(this.memory.buffer);
        view.setUint32(retSize, buf.length, true);
        view.setUint32(retFlags, 0, true);
        return WasmResult.Ok;
      },
      proxy_get_buffer_bytes: (type, start, max, retPtr, retSize) => {
        if (u32(type) > MAX_BUFFER_TYPE) return WasmResult.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        const part = bufferSlice(buf, start, max);
        return part ? this.give(part, retPtr, retSize) : WasmResult.BadArgument;
      },
      // Only the body of the current body call can be changed (configurations are read-only).
      proxy_set_buffer_bytes: (type, start, size, ptr, len) => {
        if (u32(type) > MAX_BUFFER_TYPE) return WasmResult.BadArgument;
        const body = this.stream?.body;
        if (!body || body.type !== type) return WasmResult.NotFound;
        body.bytes = bufferSplice(body.bytes, start, size, this.bytes(ptr, len));
        return WasmResult.Ok;
      },
      proxy_get_header_map_size: (mapType, retSize) => {
        const map = this.headerMap(mapType);
        if (!map) return WasmResult.NotFound;
        new DataView(this.memory.buffer).setUint32(retSize, encodeHeaderMap(map).length, true);
        return WasmResult.Ok;
      },
      proxy_get_header_map_pairs: (mapType, retPtr, retSize) => {
        const map = this.headerMap(mapType);
        return map ? this.give(encodeHeaderMap(map), retPtr, retSize) : WasmResult.NotFound;
      },
      proxy_set_header_map_pairs: (mapType, ptr, size) => {
        const pairs = decodeHeaderMap(this.bytes(ptr, size));
        if (!this.headerMap(mapType)) return WasmResult.NotFound;
        if (!pairs) return WasmResult.SerializationFailure;
        return this.editMap(mapType, () => pairs.map(([k, v]) => [k.toLowerCase(), v]));
      },
      proxy_get_header_map_value: (mapType, kp, ks, retPtr, retSize) => {
        const map = this.headerMap(mapType);
        if (!map) return WasmResult.NotFound;
        const name = key(kp, ks);
        const found = map.find(([k]) => k === name);
        return found ? this.give(this.enc.encode(found[1]), retPtr, retSize) : WasmResult.NotFound;
      },
      proxy_add_header_map_value: (mapType, kp, ks, vp, vs) => {
        const pair: [string, string] = [key(kp, ks), this.text(vp, vs)];
        return this.editMap(mapType, (map) => [...map, pair]);
      },
      proxy_replace_header_map_value: (mapType, kp, ks, vp, vs) => {
        const [name, value] = [key(kp, ks), this.text(vp, vs)];
        return this.editMap(mapType, (map) => [...map.filter(([k]) => k !== name), [name, value]]);
      },
      proxy_remove_header_map_value: (mapType, kp, ks) => {
        const name = key(kp, ks);
        return this.editMap(mapType, (map) => map.filter(([k]) => k !== name));
      },
      proxy_get_property: (pp, ps, retPtr, retSize) => {
        const path = this.text(pp, ps).split('\0').filter(Boolean).join('.');
        const value = this.stream?.properties[path] ?? (path === 'plugin_name' ? this.init.key : undefined);
        return value === undefined ? WasmResult.NotFound : this.give(this.enc.encode(value), retPtr, retSize);
      },
      proxy_set_property: () => WasmResult.Unimplemented,
      proxy_send_local_response: (status, _dp, _ds, bp, bs, hp, hs) => {
        if (!this.stream) return WasmResult.NotFound;
        const headers = decodeHeaderMap(this.bytes(hp, hs));
        if (!headers) return WasmResult.SerializationFailure;
        this.stream.localResponse = { status, body: this.text(bp, bs), headers };
        return WasmResult.Ok;
      },
      // Without async host calls a stream can only be continued or closed from its own callback.
      proxy_continue_stream: (type) => {
        if (!this.stream || type !== this.stream.direction) return WasmResult.NotFound;
        this.stream.continued = true;
        return WasmResult.Ok;
      },
      proxy_close_stream: (type) => {
        if (!this.stream) return WasmResult.NotFound;
        if (type !== StreamType.HttpRequest && type !== StreamType.HttpResponse) return WasmResult.BadArgument;
        this.stream.localResponse ??= CLOSED_STREAM;
        return WasmResult.Ok;
      },
      proxy_done: () => WasmResult.Ok,
    };
  }

  private buffer(type: number): Uint8Array | undefined {
    if (type === BufferType.PluginConfiguration) return this.pluginConfig;
    if (type === BufferType.VmConfiguration) return this.vmConfig;
    const body = this.stream?.body;
    return body?.type === type ? body.bytes : undefined;
  }
}

const trailerMap = (response: boolean): number => (response ? MapType.ResponseTrailers : MapType.RequestTrailers);
