// One proxy-wasm VM: a module instance with the host functions an HTTP filter uses (ABI
// 0.2.1). It runs inside a worker (vm-worker.ts), which is what bounds the time of a call;
// this file only does the ABI (and caps the module's memory, module-check.ts).
import {
  BufferType,
  decodeHeaderMap,
  encodeHeaderMap,
  FilterHeadersStatus,
  MapType,
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
/** Request contexts awaiting their response, at most (the oldest are closed first). */
const MAX_OPEN_CONTEXTS = 1024;

type Fn = (...args: number[]) => number;

/** The per-request state host functions read and edit. */
interface Stream {
  /** The header map the stream's phase offers (request or response headers). */
  readonly map: number;
  headers: HeaderPairs;
  properties: Readonly<Record<string, string>>;
  localResponse?: LocalResponse;
}

export class ProxyWasmVm {
  private readonly exports: Record<string, unknown>;
  private readonly memory: WasmMemory;
  private logs: LogLine[] = [];
  private stream: Stream | undefined;
  private nextContext = ROOT_CONTEXT + 1;
  /** Open request contexts and their properties (still readable while their response runs). */
  private readonly open = new Map<number, Readonly<Record<string, string>>>();
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

  /** One request's headers through the plugin: context create, request headers, done, delete. */
  onRequest(call: RequestCall): RequestOutcome {
    const stream: Stream = {
      map: MapType.RequestHeaders,
      headers: call.headers.map(([k, v]) => [k, v]),
      properties: call.properties,
    };
    this.stream = stream;
    const id = this.nextContext++;
    try {
      this.optional('proxy_on_context_create')?.(id, ROOT_CONTEXT);
      const status = this.optional('proxy_on_request_headers')?.(id, stream.headers.length, 1);
      if (status === FilterHeadersStatus.StopIteration && !stream.localResponse)
        this.logs.push({ level: 3, message: 'plugin paused the request; Ambit continues it (no async host calls)' });
      const waits = !stream.localResponse && this.optional('proxy_on_response_headers') !== undefined;
      if (waits) this.keepOpen(id, call.properties);
      else this.finish(id);
      this.checkMemory();
      if (waits) return { headers: stream.headers, context: id, logs: this.takeLogs() };
    } finally {
      this.stream = undefined;
    }
    return {
      headers: stream.headers,
      ...(stream.localResponse ? { localResponse: stream.localResponse } : {}),
      logs: this.takeLogs(),
    };
  }

  /** The response headers of a request whose context stayed open; the context ends here. */
  onResponse(call: ResponseCall): RequestOutcome {
    const properties = this.open.get(call.context);
    if (!properties) return { headers: call.headers, logs: this.takeLogs() };
    this.open.delete(call.context);
    const stream: Stream = { map: MapType.ResponseHeaders, headers: call.headers.map(([k, v]) => [k, v]), properties };
    this.stream = stream;
    try {
      this.optional('proxy_on_response_headers')?.(call.context, stream.headers.length, 0);
      this.finish(call.context);
      this.checkMemory();
    } finally {
      this.stream = undefined;
    }
    return { headers: stream.headers, logs: this.takeLogs() };
  }

  private keepOpen(id: number, properties: Readonly<Record<string, string>>): void {
    this.open.set(id, properties);
    for (const old of this.open.keys()) {
      if (this.open.size <= MAX_OPEN_CONTEXTS) break;
      this.open.delete(old);
      this.finish(old);
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
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        const view = new DataView(this.memory.buffer);
        view.setUint32(retSize, buf.length, true);
        view.setUint32(retFlags, 0, true);
        return WasmResult.Ok;
      },
      proxy_get_buffer_bytes: (type, start, max, retPtr, retSize) => {
        const buf = this.buffer(type);
        if (!buf) return WasmResult.NotFound;
        if (start < 0 || start > buf.length) return WasmResult.BadArgument;
        return this.give(buf.subarray(start, start + Math.max(0, max)), retPtr, retSize);
      },
      // Bodies are not handed to plugins (see README): nothing to replace.
      proxy_set_buffer_bytes: () => WasmResult.NotFound,
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
    return undefined;
  }
}
