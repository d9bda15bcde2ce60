// Request headers of an HBONE CONNECT: `:authority ip:port`, `forwarded: for="ip:port"`
// (RFC 7239; IPv6 in brackets) and a W3C `traceparent`.
import { randomFillSync } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { AmbitError } from '../errors.js';

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

// One randomFillSync per 170 CONNECTs instead of one each (it showed in the profile of new
// connections): 24 random bytes per traceparent, taken from a 4 KiB buffer refilled when used up.
const RANDOM_POOL = Buffer.alloc(24 * 170);
let randomOffset = RANDOM_POOL.length;

/** A new W3C traceparent (version 00, sampled flag clear). */
export function newTraceparent(): string {
  if (randomOffset + 24 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomOffset = 0;
  }
  const at = randomOffset;
  randomOffset += 24;
  return `00-${RANDOM_POOL.toString('hex', at, at + 16)}-${RANDOM_POOL.toString('hex', at + 16, at + 24)}-00`;
}

export function isTraceparent(value: string): boolean {
  return TRACEPARENT.test(value) && !/^[0-9a-f]{2}-0{32}-/.test(value) && !/-0{16}-[0-9a-f]{2}$/.test(value);
}

/**
 * Split "ip:port" or "[v6]:port"; undefined when it is not an IP literal with a port. IPv6 zone
 * indexes ("fe80::1%eth0", which node:net accepts) are refused: they name an interface of
 * whichever host reads them, never a destination another host can mean.
 */
export function splitHostPort(value: string): { host: string; port: number } | undefined {
  if (typeof value !== 'string' || value.includes('%')) return undefined;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const host = m[1] ?? '';
  const port = Number(m[2]);
  if (!isIP(host) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface ConnectHeaderInput {
  authority: string;
  forwardedFor?: string;
  traceparent?: string;
  extraHeaders?: Record<string, string>;
}

/** Headers of the CONNECT request; throws AMBIT_E_HBONE_CONNECT on a malformed input. */
export function connectHeaders(o: ConnectHeaderInput): OutgoingHttpHeaders {
  if (!splitHostPort(o.authority)) {
    throw new AmbitError('AMBIT_E_HBONE_CONNECT', `HBONE authority "${o.authority}" is not ip:port`, {
      hint: 'the destination of a tunnel is an IP literal and a port, e.g. 10.0.0.7:8080 or [fd00::7]:8080',
    });
  }
  const headers: OutgoingHttpHeaders = { ...o.extraHeaders, ':method': 'CONNECT', ':authority': o.authority };
  if (o.forwardedFor !== undefined) {
    if (!splitHostPort(o.forwardedFor)) {
      throw new AmbitError('AMBIT_E_HBONE_CONNECT', `forwardedFor "${o.forwardedFor}" is not ip:port`, {
        hint: 'pass the original client address as ip:port',
      });
    }
    headers['forwarded'] = `for="${o.forwardedFor}"`;
  }
  headers['traceparent'] =
    o.traceparent !== undefined && isTraceparent(o.traceparent) ? o.traceparent : newTraceparent();
  return headers;
}

/** The client `ip:port` of a `forwarded: for="…"` header (first element), if present and valid. */
export function forwardedFor(headers: IncomingHttpHeaders): { host: string; port: number } | undefined {
  const raw = headers['forwarded'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return undefined;
  const first = value.split(',')[0] ?? '';
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    const v = pair
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    return splitHostPort(v);
  }
  return undefined;
}
