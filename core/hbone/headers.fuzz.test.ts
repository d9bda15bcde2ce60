// Property-based tests of the HBONE CONNECT headers a peer controls: `:authority`, `forwarded`
// and `traceparent`. The parsers never throw and only ever yield an IP literal with a port in
// range; what connectHeaders writes parses back; and a real HBONE server (mutual TLS on
// loopback) answers any authority and forwarded value with 200 or 400, never crashing.
import http2 from 'node:http2';
import { isIP } from 'node:net';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { pki } from '../../test/support/hbone.js';
import { isAmbitError } from '../errors.js';
import { connectHeaders, forwardedFor, isTraceparent, joinHostPort, newTraceparent, splitHostPort } from './headers.js';
import { acceptTunnel, createHboneServer } from './server.js';
import type { HboneServer } from './server.js';

const ipV4 = fc.ipV4();
const ipV6 = fc.ipV6();
const port = fc.integer({ min: 1, max: 65535 });
const hostPort = fc.tuple(fc.oneof(ipV4, ipV6), port).map(([h, p]) => joinHostPort(h, p));

/** Strings near the grammar: fragments of valid authorities, brackets, colons, digits, junk. */
const authorityLike = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ maxLength: 60, unit: 'binary' }),
  hostPort,
  fc
    .array(
      fc.constantFrom(
        '[',
        ']',
        ':',
        '.',
        '%',
        '1',
        '0',
        'f',
        'fe80',
        '::',
        '255',
        '65536',
        '99999',
        ' ',
        'a',
        '"',
        ',',
        ';',
        '=',
      ),
      { maxLength: 20 },
    )
    .map((parts) => parts.join('')),
  fc.tuple(hostPort, fc.string({ maxLength: 8 })).map(([hp, tail]) => hp + tail),
);

function validHostPort(r: { host: string; port: number } | undefined): void {
  if (r === undefined) return;
  expect(isIP(r.host)).not.toBe(0);
  expect(r.host).not.toContain('%');
  expect(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535).toBe(true);
}

const forwardedLike = fc.oneof(
  authorityLike,
  fc
    .tuple(
      fc.constantFrom('for=', 'For = ', 'by=x;for=', 'proto=http;for=', 'for'),
      fc.constantFrom('"', ''),
      authorityLike,
      fc.constantFrom('"', ''),
      fc.constantFrom('', ', for=1.2.3.4:5', ';by=y'),
    )
    .map((parts) => parts.join('')),
);

describe('HBONE CONNECT headers (fuzz)', () => {
  it.prop([authorityLike], fuzzParams({ examples: [['[fe80::1%eth0]:80'], ['[fe80::1%25lo]:15008']] }))(
    'splitHostPort never throws and yields only ip:port in range',
    (value) => {
      validHostPort(splitHostPort(value));
    },
    fuzzTimeout(),
  );

  it.prop([fc.oneof(ipV4, ipV6), port], fuzzParams())(
    'joinHostPort and splitHostPort round-trip',
    (host, p) => {
      expect(splitHostPort(joinHostPort(host, p))).toEqual({ host, port: p });
    },
    fuzzTimeout(),
  );

  it.prop([fc.oneof(forwardedLike, fc.array(forwardedLike, { maxLength: 3 }), fc.constant(undefined))], fuzzParams())(
    'forwardedFor never throws and yields only ip:port in range',
    (value) => {
      validHostPort(forwardedFor({ forwarded: value as string | undefined }));
    },
    fuzzTimeout(),
  );

  it.prop(
    [
      authorityLike,
      fc.option(authorityLike, { nil: undefined }),
      fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
    ],
    fuzzParams(),
  )(
    'connectHeaders builds headers or refuses with AMBIT_E_HBONE_CONNECT; what it writes parses back',
    (authority, fwd, traceparent) => {
      let h: ReturnType<typeof connectHeaders>;
      try {
        h = connectHeaders({ authority, forwardedFor: fwd, traceparent });
      } catch (err) {
        if (!isAmbitError(err) || err.code !== 'AMBIT_E_HBONE_CONNECT') throw err;
        expect(splitHostPort(authority) === undefined || (fwd !== undefined && splitHostPort(fwd) === undefined)).toBe(
          true,
        );
        return;
      }
      expect(h[':authority']).toBe(authority);
      expect(isTraceparent(String(h['traceparent']))).toBe(true);
      if (fwd !== undefined) expect(forwardedFor({ forwarded: String(h['forwarded']) })).toEqual(splitHostPort(fwd));
    },
    fuzzTimeout(),
  );

  it.prop([fc.string({ maxLength: 64 }), fc.constant(null).map(() => newTraceparent())], fuzzParams())(
    'isTraceparent never throws; generated ones are valid',
    (value, generated) => {
      expect(typeof isTraceparent(value)).toBe('boolean');
      expect(isTraceparent(generated)).toBe(true);
    },
    fuzzTimeout(),
  );

  describe('on a real HBONE server', () => {
    let server: HboneServer;
    let session: http2.ClientHttp2Session | undefined;
    let connect: () => http2.ClientHttp2Session;
    /** The client session, a new one when the server closed the last (nghttp2 closes a session after 100 refused streams). */
    const client = (): http2.ClientHttp2Session => {
      if (!session || session.closed || session.destroyed) session = connect();
      return session;
    };
    beforeAll(async () => {
      const p = await pki();
      server = createHboneServer({
        credentials: () => p.server,
        trustDomain: 'cluster.local',
        handler: (req) => {
          forwardedFor(req.headers);
          acceptTunnel(req).end();
        },
      });
      const addr = await server.listen({ host: '127.0.0.1', port: 0 });
      connect = () => {
        const s = http2.connect(`https://127.0.0.1:${addr!.port}`, {
          key: p.client.keyPem,
          cert: p.client.certChainPem,
          ca: p.client.rootsPem,
          checkServerIdentity: () => undefined,
        });
        s.on('error', () => undefined);
        return s;
      };
    });
    afterAll(async () => {
      session?.destroy();
      await server.close({ force: true });
    });

    it.prop(
      [authorityLike, fc.option(forwardedLike, { nil: undefined }), fc.constantFrom('CONNECT', 'GET', 'POST')],
      fuzzParams({ quick: 100 }),
    )(
      'any authority and forwarded value gets 200 (ip:port) or 400, and the server keeps serving',
      async (authority, fwd, method) => {
        let req: http2.ClientHttp2Stream;
        try {
          req = client().request({
            ':method': method,
            ':authority': authority,
            ...(method === 'CONNECT' ? {} : { ':path': '/' }),
            ...(fwd !== undefined ? { forwarded: fwd } : {}),
          });
        } catch {
          return; // the client itself refuses to send this header value
        }
        const status = await new Promise<number>((resolve) => {
          req.on('response', (h) => resolve(Number(h[':status'])));
          req.on('error', () => resolve(-1));
          req.on('close', () => resolve(-1));
        });
        req.close();
        // An authority HTTP/2 itself refuses (e.g. with a space) is a stream reset: harmless too.
        if (status === -1) return;
        const expected = method === 'CONNECT' && splitHostPort(authority) ? 200 : 400;
        expect(status).toBe(expected);
      },
      fuzzTimeout(60_000),
    );

    it('still serves a valid CONNECT after the campaign', async () => {
      session?.destroy();
      session = undefined;
      const req = client().request({ ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
      const status = await new Promise<number>((resolve) => req.on('response', (h) => resolve(Number(h[':status']))));
      expect(status).toBe(200);
      req.close();
    });
  });
});
