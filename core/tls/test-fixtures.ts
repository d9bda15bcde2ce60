// ClientHello bytes for tests: a minimal, well-formed hello with a chosen SNI, ALPN and
// padding, and a re-framing of a hello over several TLS records.

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

function extension(type: number, body: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(body.length), body]);
}

/** One handshake message (type 1) with the given extensions, framed in records of at most 16 KiB. */
export function helloBytes(opts: { serverName?: string; alpn?: readonly string[]; padding?: number }): Buffer {
  const exts: Buffer[] = [];
  if (opts.serverName !== undefined) {
    const name = Buffer.from(opts.serverName, 'latin1');
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    exts.push(extension(0, Buffer.concat([u16(entry.length), entry])));
  }
  if (opts.alpn) {
    const list = Buffer.concat(
      opts.alpn.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])),
    );
    exts.push(extension(16, Buffer.concat([u16(list.length), list])));
  }
  // Padding extension (RFC 7685), to make hellos of any size.
  if (opts.padding) exts.push(extension(21, Buffer.alloc(opts.padding)));
  const extBytes = Buffer.concat(exts);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(extBytes.length),
    extBytes,
  ]);
  const handshake = Buffer.concat([Buffer.from([1]), u24(body.length), body]);
  return frame(handshake, 16_384);
}

function frame(handshake: Buffer, recordSize: number): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < handshake.length; i += recordSize) {
    const payload = handshake.subarray(i, i + recordSize);
    records.push(Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(payload.length), payload]));
  }
  return Buffer.concat(records);
}

/** The same hello with its handshake bytes re-framed into records of `recordSize` bytes. */
export function splitIntoRecords(hello: Buffer, recordSize: number): Buffer {
  const payloads: Buffer[] = [];
  for (let i = 0; i < hello.length;) {
    const length = hello.readUInt16BE(i + 3);
    payloads.push(hello.subarray(i + 5, i + 5 + length));
    i += 5 + length;
  }
  return frame(Buffer.concat(payloads), recordSize);
}
