// Remote JSON Web Key Sets for RequestAuthentication `jwksUri`, fetched with the bounds a
// proxy that any namespace admin can point at a URL needs:
// - https only, unless the mesh config sets `jwksAllowHttp`;
// - never a loopback, link-local, unspecified or multicast address: IP literals are checked,
//   names are resolved and every address checked, and the connection goes to the address
//   that was checked (no second lookup that DNS could answer differently);
// - a response of at most 1 MiB, within a timeout;
// - one key set per URI for the life of the waypoint, kept across config pushes while a rule
//   still names it: refreshed when older than 20 minutes, or when a token names a key the set
//   lacks (at most every 30 s); a failed refresh keeps the last good keys.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { anyCidrContains, parseCidr, parseIp } from '../../core/authz/ip-match.js';
import { AmbitError } from '../../core/errors.js';
import { jose } from './jose.js';

export const JWKS_MAX_BYTES = 1024 * 1024;
const MAX_AGE_MS = 20 * 60_000;
const COOLDOWN_MS = 30_000;
const TIMEOUT_MS = 5_000;

const FORBIDDEN = [
  '127.0.0.0/8',
  '0.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '255.255.255.255/32',
  '::1/128',
  '::/128',
  'fe80::/10',
  'ff00::/8',
].map(parseCidr); // IPv4-mapped IPv6 addresses are parsed as IPv4, so these cover them too

/** Loopback, link-local (cloud metadata lives there), unspecified and multicast addresses. */
export function forbiddenJwksAddress(ip: string): boolean {
  const parsed = parseIp(ip);
  return parsed === undefined || anyCidrContains(FORBIDDEN, parsed);
}

export interface JwksFetchOptions {
  /** From the mesh config; https only when false. */
  readonly allowHttp: boolean;
  /** Address check; the default refuses forbiddenJwksAddress. Tests on loopback replace it. */
  readonly addressAllowed?: (ip: string) => boolean;
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

function refuse(uri: string, why: string): AmbitError {
  return new AmbitError('AMBIT_E_CONFIG', `jwksUri ${uri}: ${why}`, {
    hint: 'serve the JWKS over https from a routable address, or inline it with jwks',
  });
}

/** Fetches and parses one JWKS document within the bounds above. */
export async function fetchJwks(uri: string, o: JwksFetchOptions): Promise<JSONWebKeySet> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw refuse(uri, 'not a URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && o.allowHttp)) {
    throw refuse(
      uri,
      o.allowHttp
        ? 'only http and https are allowed'
        : 'only https is allowed (mesh config jwksAllowHttp permits http)',
    );
  }
  const allowed = o.addressAllowed ?? ((ip: string) => !forbiddenJwksAddress(ip));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let address: string;
  let family: number;
  if (net.isIP(host)) {
    address = host;
    family = net.isIP(host);
  } else {
    const found = await dns.promises.lookup(host, { all: true, verbatim: true });
    if (found.length === 0) throw refuse(uri, `${host} does not resolve`);
    const bad = found.find((a) => !allowed(a.address));
    if (bad)
      throw refuse(uri, `${host} resolves to ${bad.address}, a loopback, link-local or otherwise non-routable address`);
    ({ address, family } = found[0]!);
  }
  if (!allowed(address)) throw refuse(uri, `${address} is a loopback, link-local or otherwise non-routable address`);
  const max = o.maxBytes ?? JWKS_MAX_BYTES;
  const body = await new Promise<string>((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.get(
      url,
      {
        // Connect to the checked address; TLS still verifies the certificate for the URL's host.
        lookup: (_h: string, opts: dns.LookupOptions, cb: (...a: unknown[]) => void) => {
          if (opts.all) cb(null, [{ address, family }]);
          else cb(null, address, family);
        },
        ...(url.protocol === 'https:' ? { servername: net.isIP(host) ? undefined : host } : {}),
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(o.timeoutMs ?? TIMEOUT_MS),
      } as https.RequestOptions,
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(refuse(uri, `answered ${res.statusCode}`));
          return;
        }
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > max) {
          res.destroy();
          reject(refuse(uri, `response of ${declared} bytes is over the ${max}-byte limit`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) {
            res.destroy();
            reject(refuse(uri, `response is over the ${max}-byte limit`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw refuse(uri, 'response is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw refuse(uri, 'response has no "keys" array');
  }
  return doc as JSONWebKeySet;
}

interface Entry {
  keys?: JWTVerifyGetKey;
  /** When the last fetch ended (success or failure); undefined before the first. */
  fetchedAt?: number;
  pending?: Promise<void>;
  lastError?: Error;
}

/**
 * Key sets by URI, owned by the waypoint runtime (not by one config version), so a push that
 * leaves a rule's jwksUri as it was reuses the keys instead of fetching them again.
 */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inline = new Map<string, JWTVerifyGetKey>();

  constructor(
    private readonly o: Omit<JwksFetchOptions, 'allowHttp'> & { now?: () => number; fetch?: typeof fetchJwks } = {},
  ) {}

  /** The key getter for jose's jwtVerify. */
  keysFor(uri: string, allowHttp: boolean): JWTVerifyGetKey {
    const key = `${allowHttp ? 'http+' : ''}${uri}`;
    return async (header, token) => {
      let e = this.entries.get(key);
      if (!e) {
        e = {};
        this.entries.set(key, e);
      }
      const now = this.now();
      // Without keys, a failed fetch is retried after the cooldown, not on every request.
      const age = e.fetchedAt === undefined ? Infinity : now - e.fetchedAt;
      const due = e.keys ? age > MAX_AGE_MS : age >= COOLDOWN_MS;
      if (due) await this.refresh(e, uri, allowHttp);
      if (!e.keys) throw e.lastError ?? new Error(`no keys from ${uri}`);
      try {
        return await e.keys(header, token);
      } catch (err) {
        // A key the set lacks may be a rotation: fetch again, not more often than the cooldown.
        if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || now - (e.fetchedAt ?? 0) < COOLDOWN_MS)
          throw err;
        await this.refresh(e, uri, allowHttp);
        return e.keys(header, token);
      }
    };
  }

  /** An inline `jwks` document, parsed once while a rule carries the same text. Throws on bad JSON. */
  inlineKeys(text: string): JWTVerifyGetKey {
    let keys = this.inline.get(text);
    if (!keys) {
      keys = jose().createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
      this.inline.set(text, keys);
    }
    return keys;
  }

  /** Forgets URIs and documents no rule names any more. */
  retain(rules: ReadonlyArray<{ uri?: string; inline?: string; allowHttp: boolean }>): void {
    const live = new Set(rules.flatMap((r) => (r.uri ? [`${r.allowHttp ? 'http+' : ''}${r.uri}`] : [])));
    for (const k of this.entries.keys()) if (!live.has(k)) this.entries.delete(k);
    const inline = new Set(rules.flatMap((r) => (r.inline ? [r.inline] : [])));
    for (const k of this.inline.keys()) if (!inline.has(k)) this.inline.delete(k);
  }

  /** Remote key sets held (for tests and config dumps). */
  get size(): number {
    return this.entries.size;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private refresh(e: Entry, uri: string, allowHttp: boolean): Promise<void> {
    e.pending ??= (async () => {
      try {
        const doc = await (this.o.fetch ?? fetchJwks)(uri, { ...this.o, allowHttp });
        e.keys = jose().createLocalJWKSet(doc);
        e.lastError = undefined;
      } catch (err) {
        e.lastError = err as Error;
      } finally {
        // Failures count as a fetch too, so a bad URI is not hammered once per request.
        e.fetchedAt = this.now();
        e.pending = undefined;
      }
    })();
    return e.pending;
  }
}
