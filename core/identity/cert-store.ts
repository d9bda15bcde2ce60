// Credentials per identity, obtained through a CaClient and rotated at half-life. The previous
// credentials stay available while they are valid (connections opened with them keep working);
// a failed request is retried with capped exponential backoff.

import { AmbitError, describeError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { CaClient, Credentials } from './types.js';
import { credentialsFrom, DEFAULT_TTL_SECONDS } from './ca.js';
import { createCsr, generateWorkloadKey } from './csr.js';
import { parseSpiffeId } from './spiffe.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000 };
/** setTimeout's limit (~24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Delay before retry number `failures` (1-based): initial × 2^(failures-1), capped, with ±10 % jitter. */
export function backoffDelay(
  failures: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(Math.min(opts.maxMs, base * (0.9 + 0.2 * random())));
}

interface Entry {
  /** oldest first; the last one is the newest */
  held: Credentials[];
  inflight?: Promise<Credentials>;
  timer?: NodeJS.Timeout;
  failures: number;
  lastError?: string;
}

export interface CertificateStoreOptions {
  ca: CaClient;
  ttlSeconds?: number;
  log?: Logger;
  backoff?: Partial<BackoffOptions>;
}

export class CertificateStore {
  private readonly ca: CaClient;
  private readonly ttlSeconds: number;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(creds: Credentials) => void>();
  private closed = false;

  constructor(opts: CertificateStoreOptions) {
    this.ca = opts.ca;
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    this.log = opts.log ?? createLogger('cert-store');
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  }

  /** Valid credentials for `identity`, requesting them when none are held. */
  async get(identity: string): Promise<Credentials> {
    if (this.closed)
      throw new AmbitError('AMBIT_E_CA', 'the certificate store is closed', {
        hint: 'this is a shutdown race; retry on the new store',
      });
    const held = this.current(identity);
    if (held) return held;
    parseSpiffeId(identity);
    let entry = this.entries.get(identity);
    if (!entry) {
      entry = { held: [], failures: 0 };
      this.entries.set(identity, entry);
    }
    return entry.inflight ?? this.obtain(identity, entry);
  }

  /** The newest credentials still valid, if any. */
  current(identity: string): Credentials | undefined {
    const entry = this.entries.get(identity);
    if (!entry) return undefined;
    this.prune(entry);
    return entry.held[entry.held.length - 1];
  }

  /** Every credential still valid for `identity`, oldest first (the old one stays usable until it expires). */
  valid(identity: string): readonly Credentials[] {
    const entry = this.entries.get(identity);
    if (!entry) return [];
    this.prune(entry);
    return [...entry.held];
  }

  /** Called with each newly obtained credential (first issue and every rotation). */
  onRotate(listener: (creds: Credentials) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Expiry of the newest credentials per identity (for `ambit_cert_expiry_seconds`). */
  expiries(): Array<{ identity: string; notAfter: Date }> {
    const out: Array<{ identity: string; notAfter: Date }> = [];
    for (const identity of this.entries.keys()) {
      const creds = this.current(identity);
      if (creds) out.push({ identity, notAfter: creds.notAfter });
    }
    return out;
  }

  /** Consecutive failed requests for `identity` and the last error (for status pages). */
  failures(identity: string): { count: number; lastError?: string } {
    const entry = this.entries.get(identity);
    return entry ? { count: entry.failures, ...(entry.lastError ? { lastError: entry.lastError } : {}) } : { count: 0 };
  }

  /** Stop rotating `identity` and drop its credentials (its last pod left the node). */
  forget(identity: string): void {
    const entry = this.entries.get(identity);
    if (entry?.timer) clearTimeout(entry.timer);
    this.entries.delete(identity);
  }

  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) if (entry.timer) clearTimeout(entry.timer);
    this.entries.clear();
    this.listeners.clear();
  }

  private obtain(identity: string, entry: Entry): Promise<Credentials> {
    const attempt = this.request(identity).then(
      (creds) => {
        entry.inflight = undefined;
        if (this.entries.get(identity) !== entry) return creds; // forgotten meanwhile
        entry.failures = 0;
        entry.lastError = undefined;
        entry.held.push(creds);
        this.prune(entry);
        this.schedule(identity, entry, rotationDelay(creds));
        this.log.info('certificate obtained', { identity, notAfter: creds.notAfter.toISOString() });
        for (const listener of this.listeners) {
          try {
            listener(creds);
          } catch (err) {
            this.log.error('certificate rotation listener failed', { identity, err: describeError(err) });
          }
        }
        return creds;
      },
      (err: unknown) => {
        entry.inflight = undefined;
        if (this.entries.get(identity) === entry) {
          entry.failures += 1;
          entry.lastError = describeError(err);
          const delay = backoffDelay(entry.failures, this.backoff);
          this.log.warn('certificate request failed; retrying', {
            identity,
            failures: entry.failures,
            retryInMs: delay,
            err: entry.lastError,
          });
          this.schedule(identity, entry, delay);
        }
        throw err;
      },
    );
    entry.inflight = attempt;
    return attempt;
  }

  private async request(identity: string): Promise<Credentials> {
    const key = await generateWorkloadKey();
    const signed = await this.ca.sign({
      csrPem: createCsr(identity, key.privateKey),
      identity,
      ttlSeconds: this.ttlSeconds,
    });
    return credentialsFrom(identity, key.keyPem, signed);
  }

  private schedule(identity: string, entry: Entry, delayMs: number): void {
    if (this.closed) return;
    if (entry.timer) clearTimeout(entry.timer);
    const wait = Math.max(0, Math.min(delayMs, MAX_TIMER_MS));
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (delayMs > MAX_TIMER_MS) {
        this.schedule(identity, entry, delayMs - MAX_TIMER_MS);
        return;
      }
      if (!entry.inflight) this.obtain(identity, entry).catch(() => undefined); // failure already logged and rescheduled
    }, wait);
    entry.timer.unref();
  }

  private prune(entry: Entry): void {
    const now = Date.now();
    entry.held = entry.held.filter((c) => c.notAfter.getTime() > now);
  }
}

/** Rotate when half of the remaining lifetime has passed. */
function rotationDelay(creds: Credentials): number {
  const now = Date.now();
  const start = Math.max(now, creds.notBefore.getTime());
  return Math.max(0, start + (creds.notAfter.getTime() - start) / 2 - now);
}
