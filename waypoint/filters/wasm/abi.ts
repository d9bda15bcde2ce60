// proxy-wasm ABI 0.2.1 constants and the header-map wire format (github.com/proxy-wasm/spec).
// Shared by the VM (in its worker) and the filter on the main thread; imports nothing.

export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  InvalidMemoryAccess: 6,
  Empty: 7,
  Unimplemented: 12,
} as const;

export const MapType = { RequestHeaders: 0, RequestTrailers: 1, ResponseHeaders: 2, ResponseTrailers: 3 } as const;

export const BufferType = {
  RequestBody: 0,
  ResponseBody: 1,
  VmConfiguration: 6,
  PluginConfiguration: 7,
} as const;

/** proxy_continue_stream / proxy_close_stream: which stream of the HTTP context. */
export const StreamType = { HttpRequest: 0, HttpResponse: 1 } as const;

/** The action a stream callback returns (proxy_action_t): headers and bodies alike. */
export const Action = { Continue: 0, Pause: 1 } as const;

/** Buffer ids the ABI defines (0..8); any other is a bad argument, not merely unavailable. */
export const MAX_BUFFER_TYPE = 8;

export type HeaderPairs = Array<[string, string]>;

/**
 * A header map as the ABI passes it: u32 count, then count × (u32 key length, u32 value
 * length), then each key and value followed by a NUL byte; little-endian.
 */
export function encodeHeaderMap(pairs: HeaderPairs): Uint8Array {
  const enc = new TextEncoder();
  const bytes = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)] as const);
  let size = 4 + 8 * bytes.length;
  for (const [k, v] of bytes) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, bytes.length, true);
  let at = 4 + 8 * bytes.length;
  bytes.forEach(([k, v], i) => {
    view.setUint32(4 + 8 * i, k.length, true);
    view.setUint32(8 + 8 * i, v.length, true);
    out.set(k, at);
    at += k.length + 1;
    out.set(v, at);
    at += v.length + 1;
  });
  return out;
}

/** The reverse of encodeHeaderMap; undefined when the bytes are not a well-formed map. */
export function decodeHeaderMap(data: Uint8Array): HeaderPairs | undefined {
  if (data.length === 0) return [];
  if (data.length < 4) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = view.getUint32(0, true);
  if (count > (data.length - 4) / 8) return undefined;
  const dec = new TextDecoder();
  const out: HeaderPairs = [];
  let at = 4 + 8 * count;
  for (let i = 0; i < count; i++) {
    const kl = view.getUint32(4 + 8 * i, true);
    const vl = view.getUint32(8 + 8 * i, true);
    if (at + kl + vl + 2 > data.length) return undefined;
    const k = dec.decode(data.subarray(at, at + kl));
    at += kl + 1;
    const v = dec.decode(data.subarray(at, at + vl));
    at += vl + 1;
    out.push([k, v]);
  }
  return out;
}

/** An i32 the module passed as size_t: WebAssembly hands it to JS signed. */
export const u32 = (n: number): number => n >>> 0;

/**
 * proxy_get_buffer_bytes: up to `max` bytes from `start` (both u32). Undefined (BAD_ARGUMENT)
 * when `start` lies past the end; a `max` reaching past the end is cut at the end.
 */
export function bufferSlice(buf: Uint8Array, start: number, max: number): Uint8Array | undefined {
  const from = u32(start);
  if (from > buf.length) return undefined;
  return buf.subarray(from, from + Math.min(u32(max), buf.length - from));
}

/**
 * proxy_set_buffer_bytes: `value` replaces `size` bytes from `start` (both u32). start 0 with
 * size 0 prepends, a start at or past the end appends (the ABI allows the maximum size_t),
 * a size reaching past the end replaces the rest, so start 0 with the buffer's size (or more)
 * replaces the whole buffer.
 */
export function bufferSplice(buf: Uint8Array, start: number, size: number, value: Uint8Array): Uint8Array {
  const from = Math.min(u32(start), buf.length);
  const to = Math.min(from + u32(size), buf.length);
  const out = new Uint8Array(buf.length - (to - from) + value.length);
  out.set(buf.subarray(0, from), 0);
  out.set(value, from);
  out.set(buf.subarray(to), from + value.length);
  return out;
}
