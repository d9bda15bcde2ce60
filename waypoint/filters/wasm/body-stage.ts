// One WasmPlugin's view of one request's bodies: each piece goes to proxy_on_request_body or
// proxy_on_response_body in the plugin's VM. While the plugin pauses, the VM holds the body
// (each later piece is appended and the whole offered again), up to the buffer limit.
import { localReply, type LocalReply } from '../../respond.js';
import type { BodyStage } from './body-chain.js';
import { EMPTY_BODY } from './body-stream.js';
import type { WasmPluginRunner } from './runner.js';

/** Per-request body buffer limit, as Envoy's default per-connection buffer limit (1 MiB). */
export const DEFAULT_BODY_BUFFER_LIMIT = 1024 * 1024;

/** The request's context in one plugin's VM, shared by its request and response body stages. */
export interface WasmStream {
  readonly key: string;
  readonly runner: WasmPluginRunner;
  readonly context: number;
  readonly failOpen: boolean;
  readonly bufferLimit: number;
  /** The VM ended the context (or lost it): nothing more is sent for it. */
  closed: boolean;
  /** FAIL_OPEN after a failure: the rest of the stream passes untouched. */
  bypass: boolean;
  /** Logs a failed call (rate-limited by the filter). */
  readonly failed: (err: unknown, phase: string) => void;
}

export class WasmBodyStage implements BodyStage {
  /** Bytes the VM holds for this body while the plugin pauses. */
  private buffered = 0;
  /** The same bytes as they arrived, passed on untouched if the plugin fails open. */
  private held: Buffer[] = [];

  constructor(
    private readonly stream: WasmStream,
    private readonly response: boolean,
  ) {}

  async data(chunk: Buffer, endOfStream: boolean): Promise<Buffer | LocalReply> {
    const s = this.stream;
    if (s.closed || s.bypass) return chunk;
    if (this.buffered + chunk.length > s.bufferLimit) return this.overLimit();
    this.held.push(chunk);
    let outcome;
    try {
      outcome = await s.runner.body({ context: s.context, response: this.response, chunk, endOfStream });
    } catch (err) {
      s.failed(err, this.response ? 'response body' : 'request body');
      // A trap restarts the instance and a timeout the worker: the context is gone either way.
      s.closed = true;
      if (!s.failOpen) return localReply(500, `wasm plugin ${s.key} failed`);
      s.bypass = true;
      return this.release();
    }
    if (outcome.closed) s.closed = true;
    if (outcome.localResponse) {
      const { status, body, headers } = outcome.localResponse;
      return localReply(status, body, '-', Object.fromEntries(headers));
    }
    if (!outcome.body) {
      this.buffered = outcome.buffered;
      return EMPTY_BODY;
    }
    this.held = [];
    this.buffered = 0;
    return Buffer.from(outcome.body.buffer, outcome.body.byteOffset, outcome.body.byteLength);
  }

  /** Over the limit whatever the failStrategy: a plugin that reads whole bodies never sees part of one. */
  private overLimit(): LocalReply {
    const s = this.stream;
    const limit = `the ${s.bufferLimit}-byte body buffer limit of wasm plugin ${s.key}`;
    return this.response
      ? localReply(500, `response body over ${limit}`)
      : localReply(413, `Payload Too Large: request body over ${limit}`);
  }

  private release(): Buffer {
    const raw = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    this.buffered = 0;
    return raw;
  }
}
