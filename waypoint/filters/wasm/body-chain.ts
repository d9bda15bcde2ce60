// The body filters of one request (WasmPlugins that export body callbacks), run around the
// router: the request body in filter order before and while it goes upstream, the response
// body in reverse order before it goes to the client. A body no filter holds streams through
// piece by piece; one a filter pauses on is held by that filter, within its limit.
import type { Readable } from 'node:stream';
import { replies, type LocalReply } from '../../respond.js';
import type { RouterResult } from '../../upstream/router.js';
import { onCancel, RequestCancel, type CancelSignal } from '../../upstream/transport-cancel.js';
import type { BodyFilter, RequestBody } from '../context.js';
import { EMPTY_BODY, FilteredBody, type BodyStep, type Trailers } from './body-stream.js';

export interface BodyStage {
  /**
   * One piece through this filter: the bytes it passes on (none while it holds them) or a local
   * reply. The last piece may carry the stream's trailers, which the filter edits in place.
   */
  data(chunk: Buffer, endOfStream: boolean, trailers?: Trailers): Promise<Buffer | LocalReply>;
}

type Headers = Record<string, string | string[]>;

function chain(stages: readonly BodyStage[]): BodyStep {
  return async (chunk, eos, trailers) => {
    let data = chunk;
    for (const stage of stages) {
      // A filter that holds the bytes stops them here, as Envoy stops iteration.
      if (data.length === 0 && !eos) return data;
      const out = await stage.data(data, eos, trailers);
      if (!Buffer.isBuffer(out)) return out;
      data = out;
    }
    return data;
  };
}

function declaredLength(value: string | string[] | undefined): number | undefined {
  const n = typeof value === 'string' ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

const local = (reply: LocalReply): RouterResult => ({ kind: 'local', reply, attempts: 0 });

export class BodyChain implements BodyFilter {
  private readonly requestStages: BodyStage[] = [];
  private readonly responseStages: BodyStage[] = [];
  private readonly enders: Array<() => void> = [];
  /** A filter's local reply to the response headers: it replaces the upstream response. */
  private responseReply: LocalReply | undefined;
  /** The upstream response's HTTP/2 trailers, caught from the moment it came back. */
  private upstreamTrailers: Trailers | undefined;

  /**
   * @param upstreamHeaders the request's upstream headers (Content-Length is fixed up there).
   * @param requestEnded the request's headers ended it (no body will come).
   * @param requestLength the client's Content-Length (before any filter changed the headers).
   */
  constructor(
    private readonly method: string,
    private readonly upstreamHeaders: Headers,
    private readonly requestEnded: boolean,
    private readonly requestLength?: string,
  ) {}

  addRequestStage(stage: BodyStage): void {
    this.requestStages.push(stage);
  }

  /** Response filters run in the reverse order of request filters, as in Envoy. */
  addResponseStage(stage: BodyStage): void {
    this.responseStages.unshift(stage);
  }

  /**
   * Answers instead of the upstream response (a reply from a response headers callback, which
   * runs before the head goes out): its body is discarded, as in Envoy. The first reply wins.
   */
  answerResponse(reply: LocalReply): void {
    this.responseReply ??= reply;
  }

  get responseAnswered(): boolean {
    return this.responseReply !== undefined;
  }

  /** Called when the stream ends before its body reached every filter (a reply, a failure, no body). */
  onAbandon(end: () => void): void {
    this.enders.push(end);
  }

  async route(
    body: RequestBody,
    deadline: CancelSignal,
    route: (body: RequestBody, deadline: CancelSignal) => Promise<RouterResult>,
  ): Promise<RouterResult> {
    const result = await this.routeBody(body, deadline, route);
    if (result.kind === 'local') this.abandon();
    // Trailers may arrive while response callbacks run, before the body is handed on.
    else
      result.response.body.on('trailers', (t: Record<string, string | string[] | undefined>) => {
        this.upstreamTrailers = Object.fromEntries(
          Object.entries(t).filter((e): e is [string, string | string[]] => e[1] !== undefined),
        );
      });
    return result;
  }

  private async routeBody(
    body: RequestBody,
    deadline: CancelSignal,
    route: (body: RequestBody, deadline: CancelSignal) => Promise<RouterResult>,
  ): Promise<RouterResult> {
    if (this.requestStages.length === 0 || (body === undefined && this.requestEnded)) return route(body, deadline);
    const step = chain(this.requestStages);
    if (body === undefined || Buffer.isBuffer(body)) {
      // Read whole already (within the replay limit): one call with end_of_stream, and the
      // result stays replayable for retries and mirrors.
      const out = await step(body ?? EMPTY_BODY, true);
      if (!Buffer.isBuffer(out)) return local(out);
      if (body !== undefined || out.length > 0) this.upstreamHeaders['content-length'] = String(out.length);
      return route(out.length > 0 || body !== undefined ? out : undefined, deadline);
    }
    const source = body as Readable;
    // A filter's late reply (after bytes went upstream) cancels the upstream request.
    const upstream = new RequestCancel();
    const off = onCancel(deadline, () => upstream.abort());
    const filtered = new FilteredBody(
      step,
      declaredLength(this.requestLength),
      () => {
        source.unpipe(filtered);
        source.resume(); // the rest of the client's body is read and dropped
        upstream.abort();
      },
      // The client's trailers (HTTP/1 chunked or HTTP/2) are known once its body ended.
      () => (source as { trailers?: Trailers }).trailers,
    );
    filtered.on('error', () => undefined);
    source.pipe(filtered);
    source.once('error', (err: Error) => filtered.destroy(err));
    try {
      await Promise.race([filtered.started, new Promise<void>((resolve) => onCancel(deadline, resolve))]);
      if (filtered.reply) return local(filtered.reply);
      if (deadline.aborted || filtered.destroyed) {
        source.unpipe(filtered);
        filtered.destroy();
        return local(replies.timeout());
      }
      let upstreamBody: RequestBody = filtered;
      if (filtered.complete) {
        // Held whole by a filter until its end: sent with its length, and replayable.
        upstreamBody = Buffer.concat(filtered.output);
        this.upstreamHeaders['content-length'] = String(upstreamBody.length);
      } else delete this.upstreamHeaders['content-length']; // streamed: filters may change its length
      const result = await route(upstreamBody, upstream);
      if (!filtered.reply) return result;
      if (result.kind === 'upstream') result.response.body.destroy();
      return { kind: 'local', reply: filtered.reply, attempts: result.attempts };
    } finally {
      off();
    }
  }

  async response(status: number, headers: Headers, body: Readable): Promise<Readable | LocalReply> {
    if (this.responseReply) {
      body.destroy();
      this.abandon();
      return this.responseReply;
    }
    if (this.responseStages.length === 0) return this.untouched(body);
    const bodiless = this.method === 'HEAD' || status === 204 || status === 304 || headers['content-length'] === '0';
    if (bodiless) {
      this.abandon();
      return this.untouched(body);
    }
    const length = declaredLength(headers['content-length']);
    const filtered: FilteredBody = new FilteredBody(
      chain(this.responseStages),
      length,
      (reply) =>
        // The head has gone to the client: a reply can no longer be sent, the stream is reset.
        filtered.destroy(new Error(`a body filter answered ${reply.status} after the response began`)),
      () => this.upstreamTrailers,
    );
    filtered.once('close', () => {
      if (!filtered.readableEnded) {
        body.destroy();
        this.abandon();
      }
    });
    filtered.on('error', () => undefined);
    body.pipe(filtered);
    body.once('error', (err: Error) => filtered.destroy(err));
    await filtered.started;
    if (filtered.reply) {
      body.destroy();
      this.abandon();
      return filtered.reply;
    }
    if (filtered.destroyed) return replies.upstreamReset();
    if (filtered.complete) headers['content-length'] = String(filtered.output.reduce((n, b) => n + b.length, 0));
    else delete headers['content-length'];
    return filtered;
  }

  /** The upstream body as it came; trailers that arrived before it was handed on are emitted again at its end. */
  private untouched(body: Readable): Readable {
    const early = this.upstreamTrailers;
    if (early) body.prependOnceListener('end', () => body.emit('trailers', early));
    return body;
  }

  private abandon(): void {
    for (const end of this.enders.splice(0)) end();
  }
}
