// One WasmPlugin's view of one request's bodies: each piece goes to proxy_on_request_body or
// proxy_on_response_body in the plugin's VM. While the plugin pauses, the VM holds the body
// (each later piece is appended and the whole offered again), up to the buffer limit. The
// trailers that end the stream go with the last piece to proxy_on_*_trailers.
import { localReply, type LocalReply } from '../../respond.js';
import type { BodyStage } from './body-chain.js';
import { EMPTY_BODY, type Trailers } from './body-stream.js';
import { headerPairs, replaceHeaders } from './header-pairs.js';
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

/** The callbacks the module exports for one direction: bodies, trailers, or both. */
export interface StageCallbacks {
  readonly body: boolean;
  readonly trailers: boolean;
}

export class WasmBodyStage implements BodyStage {
  /** Bytes the VM holds for this body while the plugin pauses. */
  private buffered = 0;
  /** The same bytes as they arrived, passed on untouched if the plugin fails open. */
  private held: Buffer[] = [];

  constructor(
    private readonly stream: WasmStream,
    private readonly response: boolean,
    private readonly callbacks: StageCallbacks = { body: true, trailers: false },
  ) {}

  async data(chunk: Buffer, endOfStream: boolean, trailers?: Trailers): Promise<Buffer | LocalReply> {
    const s = this.stream;
    if (s.closed || s.bypass) return chunk;
    // A module with trailers but no body callback: pieces pass without a call until the end.
    if (!this.callbacks.body && !endOfStream) return chunk;
    if (this.callbacks.body && this.buffered + chunk.length > s.bufferLimit) return this.overLimit();
    this.held.push(chunk);
    const piece = this.callbacks.body ? chunk : EMPTY_BODY;
    const withTrailers = trailers && this.callbacks.trailers ? { trailers: headerPairs(trailers) } : {};
    let outcome;
    try {
      const call = { context: s.context, response: this.response, chunk: piece, endOfStream, ...withTrailers };
      outcome = await s.runner.body(call);
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
    if (outcome.trailers && trailers) replaceHeaders(trailers, outcome.trailers);
    if (!this.callbacks.body) return this.release();
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
