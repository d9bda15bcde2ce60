// A body on its way through body filters, as a stream: bytes written in go through one step
// (the filters in order), what comes out is readable. Pieces written while a step runs are
// joined into the next one, so a plugin sees fewer, larger pieces; nothing is held here
// beyond that (a filter that pauses holds its own bytes, within its limit).
import { Duplex } from 'node:stream';
import type { LocalReply } from '../../respond.js';

export type Trailers = Record<string, string | string[]>;

/**
 * One piece through the filters: the bytes to pass on (none while one holds them) or a local
 * reply. The last piece may carry the trailers that end the stream; filters edit them in place.
 */
export type BodyStep = (chunk: Buffer, endOfStream: boolean, trailers?: Trailers) => Promise<Buffer | LocalReply>;

export const EMPTY_BODY = Buffer.alloc(0);

type Done = (err?: Error | null) => void;

export class FilteredBody extends Duplex {
  /** Settles once the first bytes came out, the body ended, a filter answered, or the stream failed. */
  readonly started: Promise<void>;
  /** A filter's local reply instead of the rest of the body (the bytes after it are discarded). */
  reply: LocalReply | undefined;
  /** The whole body had come out when `started` settled: `output` holds all of it. */
  complete = false;
  /** What came out by the time `started` settled. */
  readonly output: Buffer[] = [];
  private begun = false;
  private settle!: () => void;
  private received = 0;
  private ended = false;
  private waiting: (() => void) | undefined;

  /**
   * @param declaredLength the body's Content-Length: its last byte carries end_of_stream; without
   *   one, end_of_stream comes as an empty last piece once the writer ends.
   * @param onLateReply a filter answered after bytes had already gone on.
   * @param readTrailers the source's trailers once it ended (none: undefined or empty).
   */
  constructor(
    private readonly step: BodyStep,
    private readonly declaredLength: number | undefined,
    private readonly onLateReply: (reply: LocalReply) => void,
    private readonly readTrailers: () => Trailers | undefined = () => undefined,
  ) {
    super({ writableHighWaterMark: 64 * 1024 });
    this.started = new Promise((resolve) => {
      this.settle = resolve;
    });
    // The trailers as the filters left them (edited in place), or as they came when the body
    // ended at its declared length. Registered first, so a reader's 'trailers' listener runs
    // before a pipe ends its destination.
    this.once('end', () => {
      const trailers = this.readTrailers();
      if (trailers && Object.keys(trailers).length > 0) this.emit('trailers', trailers);
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: Done): void {
    this.accept(chunk, done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: Done): void {
    this.accept(Buffer.concat(chunks.map((c) => c.chunk)), done);
  }

  override _final(done: Done): void {
    if (this.ended || this.reply) return done();
    const trailers = this.readTrailers();
    this.run(EMPTY_BODY, true, done, trailers && Object.keys(trailers).length > 0 ? trailers : undefined);
  }

  override _read(): void {
    const resume = this.waiting;
    this.waiting = undefined;
    resume?.();
  }

  override _destroy(err: Error | null, done: Done): void {
    this.begin();
    done(err);
  }

  private accept(chunk: Buffer, done: Done): void {
    if (this.reply) return done(); // answered: the rest is read and dropped
    // Past the declared length (a header a filter changed): reset rather than drop bytes.
    if (this.ended) return done(chunk.length > 0 ? new Error('the body is longer than its Content-Length') : null);
    this.received += chunk.length;
    const eos = this.declaredLength !== undefined && this.received >= this.declaredLength;
    this.run(chunk, eos, done);
  }

  private run(chunk: Buffer, eos: boolean, done: Done, trailers?: Trailers): void {
    this.step(chunk, eos, trailers).then(
      (out) => {
        if (this.destroyed) return done();
        if (!Buffer.isBuffer(out)) {
          this.reply = out;
          if (this.begun) this.onLateReply(out);
          this.begin();
          return done();
        }
        if (eos) this.ended = true;
        let more = true;
        if (out.length > 0) {
          if (!this.begun) this.output.push(out);
          more = this.push(out);
        }
        if (eos) {
          if (!this.begun) this.complete = true;
          this.push(null);
        }
        if (out.length > 0 || eos) this.begin();
        if (more || eos) done();
        else this.waiting = () => done();
      },
      (err: unknown) => {
        this.begin();
        done(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  private begin(): void {
    if (this.begun) return;
    this.begun = true;
    this.settle();
  }
}
