// Splits a byte stream into newline-terminated lines, with a length limit so a peer cannot
// make us buffer without bound.
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';

  constructor(private readonly maxBytes: number) {}

  /** Feed a chunk; returns the complete lines (without '\n'). Throws when a line is too long. */
  push(chunk: Buffer): string[] {
    this.buffered += this.decoder.write(chunk);
    const parts = this.buffered.split('\n');
    this.buffered = parts.pop() ?? '';
    if (Buffer.byteLength(this.buffered) > this.maxBytes) throw new RangeError(`line longer than ${this.maxBytes} bytes`);
    return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }

  /** Bytes received after the last newline. */
  rest(): string {
    return this.buffered + this.decoder.end();
  }
}
