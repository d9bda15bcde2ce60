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
}

export interface BodyOutcome {
  /** The bytes to pass on; absent while the plugin pauses (the VM keeps them). */
  readonly body?: Uint8Array;
  /** Bytes the VM holds for this body after the call (0 unless paused). */
  readonly buffered: number;
  readonly localResponse?: LocalResponse;
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

/** No header map: body calls offer the body buffer only. */
const NO_MAP = -1;

/** The per-request state host functions read and edit. */
interface Stream {
  /** The header map the stream's phase offers (request or response headers). */
  readonly map: number;
  headers: HeaderPairs;
  properties: Readonly<Record<string, string>>;
  localResponse?: LocalResponse;
  /** During a body call: the body buffer offered (request or response body) and its bytes. */
  body?: { readonly type: number; bytes: Uint8Array };
}

export class ProxyWasmVm {
  private readonly exports: Record<string, unknown>;
  private readonly memory: WasmMemory;
  private logs: LogLine[] = [];
  private stream: Stream | undefined;
  private nextContext = ROOT_CONTEXT + 1;
  /** Open request contexts and their properties (still readable while their body and response run). */
  private readonly open = new Map<number, Readonly<Record<string, string>>>();
  /** Bodies a plugin paused, by context: each later chunk is appended and the whole offered again. */
  private readonly paused = new Map<number, Uint8Array>();
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
      headers: call.headers.map(([k, v]) => [k, v]),
      properties: call.properties,
    };
    this.stream = stream;
    const id = this.nextContext++;
    const eos = call.endOfStream ?? true;
    try {
      this.optional('proxy_on_context_create')?.(id, ROOT_CONTEXT);
      const status = this.optional('proxy_on_request_headers')?.(id, stream.headers.length, eos ? 1 : 0);
      if (status === Action.Pause && !stream.localResponse)
        this.logs.push({ level: 3, message: 'plugin paused the request; Ambit continues it (no async host calls)' });
      const later = (!eos && this.has('proxy_on_request_body')) || this.takesResponse();
      const waits = !stream.localResponse && later;
      if (waits) this.keepOpen(id, call.properties);
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
    const properties = this.open.get(call.context);
    if (!properties) return { headers: call.headers, logs: this.takeLogs() };
    this.open.delete(call.context);
    const stream: Stream = { map: MapType.ResponseHeaders, headers: call.headers.map(([k, v]) => [k, v]), properties };
    this.stream = stream;
    const eos = call.endOfStream ?? false;
    try {
      this.optional('proxy_on_response_headers')?.(call.context, stream.headers.length, eos ? 1 : 0);
      const more = !eos && !stream.localResponse && this.has('proxy_on_response_body');
      if (more) this.open.set(call.context, properties);
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
   * the host continues: Ambit has no async host calls that could resume it later).
   */
  onBody(call: BodyCall): BodyOutcome {
    const properties = this.open.get(call.context);
    if (!properties) throw new Error(`context ${call.context} is no longer open (the VM restarted or evicted it)`);
    const held = this.paused.get(call.context);
    this.paused.delete(call.context);
    const bytes = held ? bufferSplice(held, held.length, 0, call.chunk) : call.chunk;
    const type = call.response ? BufferType.ResponseBody : BufferType.RequestBody;
    const stream: Stream = { map: NO_MAP, headers: [], properties, body: { type, bytes } };
    this.stream = stream;
    const eos = call.endOfStream;
    try {
      const hook = call.response ? 'proxy_on_response_body' : 'proxy_on_request_body';
      const action = this.optional(hook)?.(call.context, bytes.length, eos ? 1 : 0) ?? Action.Continue;
      this.checkMemory();
      const body = stream.body?.bytes ?? bytes;
      if (stream.localResponse) {
        this.end(call.context);
        return { buffered: 0, localResponse: stream.localResponse, closed: true, logs: this.takeLogs() };
      }
      if (action !== Action.Continue && !eos) {
        this.paused.set(call.context, body);
        return { buffered: body.length, closed: false, logs: this.takeLogs() };
      }
      if (action !== Action.Continue)
        this.logs.push({ level: 3, message: 'plugin paused at the end of the body; Ambit continues it' });
      const closed = eos && (call.response || !this.takesResponse());
      if (closed) this.end(call.context);
      return { body, buffered: 0, closed, logs: this.takeLogs() };
    } finally {
      this.stream = undefined;
    }
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

  /** The module has a callback for response headers or bodies, so a request context waits for them. */
  private takesResponse(): boolean {
    return this.has('proxy_on_response_headers') || this.has('proxy_on_response_body');
  }

  private has(name: string): boolean {
    return this.optional(name) !== undefined;
  }

  private keepOpen(id: number, properties: Readonly<Record<string, string>>): void {
    this.open.set(id, properties);
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

  /** The stream's headers: request headers during onRequest, response headers during onResponse. */
  private headerMap(mapType: number): HeaderPairs | undefined {
    return mapType === this.stream?.map ? this.stream.headers : undefined;
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
        const map = this.headerMap(mapType);
        const pairs = decodeHeaderMap(this.bytes(ptr, size));
        if (!map || !this.stream) return WasmResult.NotFound;
        if (!pairs) return WasmResult.SerializationFailure;
        this.stream.headers = pairs.map(([k, v]) => [k.toLowerCase(), v]);
        return WasmResult.Ok;
      },
      proxy_get_header_map_value: (mapType, kp, ks, retPtr, retSize) => {
        const map = this.headerMap(mapType);
        if (!map) return WasmResult.NotFound;
        const name = key(kp, ks);
        const found = map.find(([k]) => k === name);
        return found ? this.give(this.enc.encode(found[1]), retPtr, retSize) : WasmResult.NotFound;
      },
      proxy_add_header_map_value: (mapType, kp, ks, vp, vs) => {
        const map = this.headerMap(mapType);
        if (!map) return WasmResult.NotFound;
        map.push([key(kp, ks), this.text(vp, vs)]);
        return WasmResult.Ok;
      },
      proxy_replace_header_map_value: (mapType, kp, ks, vp, vs) => {
        const map = this.headerMap(mapType);
        if (!map || !this.stream) return WasmResult.NotFound;
        const name = key(kp, ks);
        this.stream.headers = [...map.filter(([k]) => k !== name), [name, this.text(vp, vs)]];
        return WasmResult.Ok;
      },
      proxy_remove_header_map_value: (mapType, kp, ks) => {
        const map = this.headerMap(mapType);
        if (!map || !this.stream) return WasmResult.NotFound;
        const name = key(kp, ks);
        this.stream.headers = map.filter(([k]) => k !== name);
        return WasmResult.Ok;
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
      proxy_continue_stream: () => WasmResult.Ok,
      proxy_close_stream: () => WasmResult.Ok,
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
