// What the HTTP/1 request and response parsers share: gathering a section that ends in an
// empty line (a head, or a trailer section) within a size limit, and reading a body framed by
// Content-Length or chunked transfer coding (RFC 9112 §7.1): chunk-size lines of at most
// 1 KiB (hex size, optional extensions without controls), each chunk followed by CRLF, the
// last chunk followed by a trailer section or a bare CRLF. Body chunks are views of the input.

const MAX_CHUNK_LINE = 1024;
// eslint-disable-next-line no-control-regex -- chunk extensions may not carry controls
const CHUNK_LINE = /^([0-9a-fA-F]{1,13})[ \t]*(?:;[^\0-\x08\x0a-\x1f\x7f]*)?$/;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
export const EMPTY = Buffer.alloc(0);

/** Why bytes cannot be read; `tooLarge` for a section over its limit. */
export type Refuse = (why: string, tooLarge?: boolean) => Error;

/**
 * Gathers a section ending in an empty line from what was held and the new bytes: the section
 * (without its terminator) and the bytes after it, or, until the terminator came, what to hold.
 * Empty lines before it are skipped when asked (RFC 9112 §2.2), counted in its size.
 */
export function gatherSection(
  held: Buffer | undefined,
  data: Buffer,
  maxBytes: number,
  skipEmptyLines: boolean,
  refuse: Refuse,
  what: string,
): { section: Buffer; rest: Buffer } | { held: Buffer } {
  const joined = held ? Buffer.concat([held, data]) : data;
  let skip = 0;
  if (skipEmptyLines) while (joined[skip] === 13 && joined[skip + 1] === 10) skip += 2;
  // Search from just before the new bytes: the terminator may straddle the two.
  const from = held ? Math.max(skip, held.length - 3) : skip;
  const at = joined.indexOf(CRLF2, from);
  if (at < 0) {
    if (joined.length > maxBytes) throw refuse(`${what} larger than the limit`, true);
    return { held: joined };
  }
  if (at + 4 > maxBytes) throw refuse(`${what} larger than the limit`, true);
  return { section: joined.subarray(skip, at), rest: joined.subarray(at + 4) };
}

const enum Step {
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  Done,
}

export interface BodyEvents {
  onBody(chunk: Buffer): void;
  /** The body ended; `trailers` is the trailer section (fields, no terminator) when there was one. */
  onBodyEnd(trailers: Buffer | undefined): void;
}

/** One body at a time: `length(n)` or `chunked()`, then `feed` until it returns the bytes after the body. */
export class BodyReader {
  private step = Step.Done;
  private held: Buffer | undefined;
  private remaining = 0;

  constructor(
    private readonly events: BodyEvents,
    private readonly refuse: Refuse,
    /** The largest trailer section. */
    private readonly maxSectionBytes: number,
  ) {}

  /** A body of `n` bytes (n > 0). */
  length(n: number): void {
    this.held = undefined;
    this.remaining = n;
    this.step = Step.Length;
  }

  chunked(): void {
    this.held = undefined;
    this.remaining = 0;
    this.step = Step.ChunkSize;
  }

  /** Reads body bytes; returns the bytes after the body once it ended, undefined while it goes on. */
  feed(chunk: Buffer): Buffer | undefined {
    let data = chunk;
    while (data.length > 0) {
      switch (this.step) {
        case Step.Done:
          return data;
        case Step.Length:
          data = this.bodyPart(data);
          if (this.remaining === 0) this.end(undefined);
          break;
        case Step.ChunkSize:
          data = this.chunkSize(data);
          break;
        case Step.ChunkData:
          data = this.bodyPart(data);
          if (this.remaining === 0) this.step = Step.ChunkDataEnd;
          break;
        case Step.ChunkDataEnd:
          data = this.chunkDataEnd(data);
          break;
        case Step.Trailers:
          data = this.trailers(data);
          break;
      }
    }
    return this.step === Step.Done ? EMPTY : undefined;
  }

  private end(trailers: Buffer | undefined): void {
    this.step = Step.Done;
    this.held = undefined;
    this.events.onBodyEnd(trailers);
  }

  /** Up to `remaining` bytes of body passed on; returns the rest. */
  private bodyPart(data: Buffer): Buffer {
    const n = Math.min(this.remaining, data.length);
    this.remaining -= n;
    this.events.onBody(n === data.length ? data : data.subarray(0, n));
    return data.subarray(n);
  }

  private chunkSize(data: Buffer): Buffer {
    const joined = this.held ? Buffer.concat([this.held, data]) : data;
    const lf = joined.indexOf(10);
    if (lf < 0) {
      if (joined.length > MAX_CHUNK_LINE) throw this.refuse('chunk size line too long');
      this.held = joined;
      return EMPTY;
    }
    if (lf > MAX_CHUNK_LINE || lf === 0 || joined[lf - 1] !== 13) throw this.refuse('bad chunk size line');
    this.held = undefined;
    const line = CHUNK_LINE.exec(joined.toString('latin1', 0, lf - 1));
    if (!line) throw this.refuse('bad chunk size');
    this.remaining = parseInt(line[1]!, 16);
    this.step = this.remaining === 0 ? Step.Trailers : Step.ChunkData;
    return joined.subarray(lf + 1);
  }

  private chunkDataEnd(data: Buffer): Buffer {
    const joined = this.held ? Buffer.concat([this.held, data]) : data;
    if (joined[0] !== 13 || (joined.length > 1 && joined[1] !== 10)) throw this.refuse('chunk not followed by CRLF');
    if (joined.length < 2) {
      this.held = joined;
      return EMPTY;
    }
    this.held = undefined;
    this.step = Step.ChunkSize;
    return joined.subarray(2);
  }

  /** After the last chunk: a bare CRLF, or trailer fields up to an empty line. */
  private trailers(data: Buffer): Buffer {
    const held = this.held;
    if (held === undefined || held.length === 1) {
      const joined = held ? Buffer.concat([held, data]) : data;
      if (joined[0] === 13 && joined.length === 1) {
        this.held = joined;
        return EMPTY;
      }
      if (joined[0] === 13 && joined[1] === 10) {
        this.end(undefined);
        return joined.subarray(2);
      }
      this.held = undefined;
      return this.trailerSection(joined);
    }
    return this.trailerSection(data);
  }

  private trailerSection(data: Buffer): Buffer {
    const got = gatherSection(this.held, data, this.maxSectionBytes, false, this.refuse, 'trailer section');
    if ('held' in got) {
      this.held = got.held;
      return EMPTY;
    }
    this.end(got.section);
    return got.rest;
  }
}
