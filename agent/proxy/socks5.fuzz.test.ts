// Property-based tests of the SOCKS5 handshake on a real listener (loopback). Under
// REGISTRY_ONLY with an empty mesh, nothing ever leaves the agent, so every request ends in a
// reply the client can read: arbitrary bytes get only well-formed replies and a closed
// connection, never a crash; a complete greeting and request always get their answer (the
// client waiting, not closing); and the server keeps serving afterwards.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout, arbitraryBytes } from '../../test/support/fuzz.js';
import { HbonePool } from '../../core/hbone/index.js';
import { createLogger } from '../../core/log.js';
import { parseSnapshotText } from '../config/snapshot-file.js';
import { MeshState } from '../state/mesh-state.js';
import { ConnectionTracker } from './connections.js';
import type { ProxyContext } from './context.js';
import { LoopbackPodNet } from './loopback-pod-net.js';
import { createSocks5Server } from './socks5.js';

const REP = { notAllowed: 2, hostUnreachable: 4, commandNotSupported: 7, addressNotSupported: 8 };

/** Sends `chunks` (then ends when `end`), returns every byte the server wrote once it closes or after `waitMs`. */
function exchange(
  port: number,
  chunks: Buffer[],
  end: boolean,
  waitMs: number,
): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ reply: Buffer.concat(got), closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
      if (end) sock.end();
    });
  });
}

/** The server's bytes are a greeting answer, then at most one 10-byte reply with a known code. */
function wellFormed(reply: Buffer): void {
  if (reply.length === 0) return;
  expect(reply[0]).toBe(5);
  if (reply.length === 1) return;
  expect([0, 0xff]).toContain(reply[1]);
  if (reply[1] === 0xff) {
    expect(reply.length).toBe(2);
    return;
  }
  const rest = reply.subarray(2);
  if (rest.length === 0) return;
  expect(rest.length).toBe(10);
  expect(rest[0]).toBe(5);
  expect(Object.values(REP)).toContain(rest[1]);
}

const greeting = fc.uint8Array({ maxLength: 6 }).map((methods) => Buffer.from([5, methods.length, ...methods]));
const address = fc.oneof(
  fc.ipV4().map((ip) => Buffer.from([1, ...ip.split('.').map(Number)])),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from([4, ...b])),
  // names that never reach DNS: IP literals as text, and the empty name
  fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('')).map((name) => Buffer.from([3, name.length, ...Buffer.from(name)])),
  fc
    .integer({ min: 0, max: 255 })
    .filter((t) => t !== 1 && t !== 3 && t !== 4)
    .map((t) => Buffer.from([t])),
);
const request = fc.record({
  cmd: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 255 })),
  address,
  port: fc.integer({ min: 0, max: 65535 }),
});

describe('SOCKS5 handshake (fuzz)', () => {
  let server: net.Server;
  let port = 0;
  const pool = new HbonePool();

  beforeAll(async () => {
    const snapshot = parseSnapshotText(JSON.stringify({ workloads: [], services: [] }), 'v1', 'fuzz');
    const state = new MeshState(
      { ...snapshot, mesh: { ...snapshot.mesh, outboundTrafficPolicy: 'REGISTRY_ONLY' } },
      undefined,
      15008,
    );
    const log = createLogger('socks5-fuzz');
    const ctx: ProxyContext = {
      state: () => state,
      credentials: () => Promise.reject(new Error('no credentials in this test')),
      pool,
      tracker: new ConnectionTracker(undefined, log),
      ports: { outbound: 15001, inboundPlaintext: 15006, hbone: 15008, admin: 0, metrics: 0, ready: 0, socks5: 0 },
      log,
      net: new LoopbackPodNet(),
    };
    server = createSocks5Server(ctx, {
      identity: 'spiffe://cluster.local/ns/ambit-system/sa/ambit-agent',
      namespace: 'ambit-system',
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await pool.close();
    await new Promise((r) => server.close(r));
  });

  it.prop([fc.array(arbitraryBytes(64), { minLength: 1, maxLength: 4 })], fuzzParams({ quick: 100 }))(
    'arbitrary bytes get only well-formed replies, and the connection closes',
    async (chunks) => {
      const { reply, closed } = await exchange(
        port,
        chunks.map((c) => Buffer.from(c)),
        true,
        3_000,
      );
      expect(closed).toBe(true);
      wellFormed(reply);
    },
    fuzzTimeout(60_000),
  );

  it.prop(
    [greeting, request],
    fuzzParams({
      quick: 100,
      examples: [
        [Buffer.from([5, 0]), { cmd: 1, address: Buffer.from([1, 10, 0, 0, 1]), port: 80 }], // no methods at all
        [Buffer.from([5, 1, 0]), { cmd: 1, address: Buffer.from([3, 0]), port: 80 }], // an empty name
      ],
    }),
  )(
    'a complete greeting and request always get their answer while the client waits',
    async (hello, req) => {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(req.port);
      const body = [Buffer.from([5, req.cmd, 0]), req.address, ...(req.address.length > 1 ? [p] : [])];
      const { reply } = await exchange(port, [hello, ...body], false, 2_000);
      const acceptable = hello.subarray(2).includes(0);
      if (!acceptable) {
        expect([...reply]).toEqual([5, 0xff]);
        return;
      }
      expect([...reply.subarray(0, 2)]).toEqual([5, 0]);
      const atyp = req.address[0]!;
      const expected = ![1, 3, 4].includes(atyp)
        ? [REP.addressNotSupported]
        : req.cmd !== 1
          ? [REP.commandNotSupported]
          : [REP.notAllowed, REP.hostUnreachable];
      expect(reply.length).toBe(12);
      expect(expected).toContain(reply[3]);
    },
    fuzzTimeout(60_000),
  );

  it('still answers a valid client after the campaign, and holds no connection open', async () => {
    const { reply } = await exchange(port, [Buffer.from([5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 1, 0, 80])], false, 2_000);
    expect([...reply.subarray(0, 4)]).toEqual([5, 0, 5, REP.notAllowed]);
    // A refused client's socket used to stay half-open for good (paused, never drained).
    const open = (): Promise<number> => new Promise((resolve) => server.getConnections((_e, n) => resolve(n)));
    for (let i = 0; i < 200 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await open()).toBe(0);
  });
});
