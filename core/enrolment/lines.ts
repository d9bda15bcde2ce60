// Splits a byte stream into newline-terminated lines, with a length limit so a peer cannot
// make us buffer without bound. Linear in the bytes received, however they are chunked (a peer
// dripping one byte at a time must not make each push rescan the whole partial line).
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';
  private bufferedBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Feed a chunk; returns the complete lines (without '\n'). Throws when a line is too long. */
  push(chunk: Buffer): string[] {
    const text = this.decoder.write(chunk);
    const last = text.lastIndexOf('\n');
    let parts: string[] = [];
    if (last < 0) {
      this.buffered += text;
      this.bufferedBytes += Buffer.byteLength(text);
    } else {
      parts = (this.buffered + text.slice(0, last)).split('\n');
      this.buffered = text.slice(last + 1);
      this.bufferedBytes = Buffer.byteLength(this.buffered);
    }
    if (this.bufferedBytes > this.maxBytes) throw new RangeError(`line longer than ${this.maxBytes} bytes`);
    return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }

  /** Bytes received after the last newline. */
  rest(): string {
    return this.buffered + this.decoder.end();
  }
}
