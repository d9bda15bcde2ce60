// The part of the WebAssembly JS API the host uses, typed here: the project's lib (ES2023, no
// DOM) does not declare WebAssembly's classes, though Node provides them.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmModuleImport {
  readonly module: string;
  readonly name: string;
  readonly kind: string;
}

interface WasmApi {
  readonly Module: {
    new (bytes: Uint8Array): object;
    imports(module: object): WasmModuleImport[];
    exports(module: object): Array<{ readonly name: string; readonly kind: string }>;
  };
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  readonly Memory: new (d: { initial: number; maximum?: number }) => WasmMemory;
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
