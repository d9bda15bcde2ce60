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

/** proxy_on_request_headers' answer. */
export const FilterHeadersStatus = { Continue: 0, StopIteration: 1 } as const;

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
