// A pool of HBONE client connections. Key: (netns key, source identity, expected server
// identities, server address:port). Streams share a connection up to a limit, then another
// opens; concurrent connects to a new key share one handshake; idle connections close; a
// connection that dies or gets GOAWAY leaves the pool so new tunnels go to a fresh one.
import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { AmbitError, isAmbitError } from '../errors.js';
import type { Credentials } from '../identity/types.js';
import { createLogger } from '../log.js';
import type { Logger } from '../log.js';
import { dial, isRetryableOpenError, openTunnel, targetName } from './client.js';
import { connectHeaders } from './headers.js';
import type { HboneConnectOptions, HbonePoolOptions, HbonePoolStats, ResolvedFlow } from './options.js';
import { resolveFlow } from './options.js';

const { NGHTTP2_CANCEL, NGHTTP2_INADEQUATE_SECURITY } = http2.constants;
const MAX_ATTEMPTS = 3;

interface Conn {
  readonly id: number;
  readonly key: string;
  readonly session: ClientHttp2Session;
  readonly creds: Credentials;
  /** Streams open or reserved on this connection. */
  inUse: number;
  usable: boolean;
  goawayCode?: number;
  idleTimer?: NodeJS.Timeout;
}

interface PendingDial { readonly creds: Credentials; reserved: number; readonly conn: Promise<Conn> }
interface Entry { conns: Conn[]; pending: PendingDial[] }

export class HbonePool {
  private readonly entries = new Map<string, Entry>();
  private readonly live = new Set<Conn>();
  private readonly flow: ResolvedFlow;
  private readonly maxStreams: number;
  private readonly idleTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private nextId = 1;
  private closed = false;
  private counts = { handshakes: 0, handshakeFailures: 0, activeStreams: 0, tunnelsOpened: 0, tunnelsFailed: 0 };

  constructor(opts: HbonePoolOptions = {}) {
    this.flow = resolveFlow(opts);
    this.maxStreams = opts.maxStreamsPerConnection ?? 100;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.timeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.log = opts.log ?? createLogger('hbone-pool');
  }

  /** Open a tunnel; resolves once the server answered 200 (the Duplex is the HTTP/2 stream). */
  async connect(o: HboneConnectOptions): Promise<Duplex> {
    if (this.closed) throw new AmbitError('AMBIT_E_HBONE_POOL', 'HBONE pool is closed', { hint: 'the agent is shutting down' });
    const headers = connectHeaders({ authority: o.target.authority, forwardedFor: o.forwardedFor, traceparent: o.traceparent, extraHeaders: o.extraHeaders });
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const name = targetName(o.target);
    let timedOut = false;
    let current: ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        current?.close(NGHTTP2_CANCEL);
        reject(new AmbitError('AMBIT_E_TIMEOUT', `HBONE tunnel to ${o.target.authority} via ${name} not established in ${timeoutMs} ms`, {
          hint: 'the HBONE endpoint or the destination is slow or unreachable; check the destination agent/waypoint',
        }));
      }, timeoutMs);
    });
    const attempt = async (): Promise<Duplex> => {
      for (let n = 1; ; n++) {
        const conn = await this.acquire(o, timeoutMs);
        if (timedOut) { this.release(conn); throw new Error('timed out'); }
        let opened: ReturnType<typeof openTunnel>;
        try {
          opened = openTunnel(conn.session, headers, name, o.source.identity);
        } catch (err) {
          this.release(conn);
          this.retire(conn);
          if (n < MAX_ATTEMPTS) continue;
          throw this.finalError(err, conn, name);
        }
        current = opened.stream;
        this.counts.activeStreams++;
        opened.stream.once('close', () => { this.counts.activeStreams--; this.release(conn); });
        try {
          return await opened.ready;
        } catch (err) {
          if (!timedOut && isRetryableOpenError(err) && n < MAX_ATTEMPTS) { this.retire(conn); continue; }
          throw this.finalError(err, conn, name);
        }
      }
    };
    try {
      const tunnel = await Promise.race([attempt(), deadline]);
      this.counts.tunnelsOpened++;
      return tunnel;
    } catch (err) {
      this.counts.tunnelsFailed++;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  stats(): HbonePoolStats {
    return { ...this.counts, connections: this.live.size, keys: this.entries.size };
  }

  /** Stop taking tunnels; GOAWAY every connection and wait until their streams finished. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.entries.values()].flatMap((e) => e.pending.map((p) => p.conn.catch(() => undefined)));
    await Promise.all(pending);
    await Promise.all([...this.live].map((c) => new Promise<void>((resolve) => {
      c.usable = false;
      clearTimeout(c.idleTimer);
      if (c.session.closed || c.session.destroyed) { resolve(); return; }
      c.session.once('close', () => resolve());
      c.session.close();
    })));
  }

  /** Close every connection at once, resetting open tunnels. */
  destroy(): void {
    this.closed = true;
    for (const c of this.live) c.session.destroy();
  }

  private keyOf(o: HboneConnectOptions): string {
    const ids = [...o.target.expectedIdentities].sort().join(',');
    return `${o.via?.key ?? ''}|${o.source.identity}|${ids}|${targetName(o.target)}`;
  }

  private capacity(c: Conn): number {
    return Math.min(this.maxStreams, c.session.remoteSettings?.maxConcurrentStreams ?? Infinity);
  }

  /** A connection with a free stream slot, reserved for the caller; dials when none is free. */
  private acquire(o: HboneConnectOptions, timeoutMs: number): Promise<Conn> {
    const key = this.keyOf(o);
    let entry = this.entries.get(key);
    if (!entry) { entry = { conns: [], pending: [] }; this.entries.set(key, entry); }
    for (const c of [...entry.conns]) {
      // Newer credentials retire connections made with older ones (rotation): they drain.
      if (c.creds !== o.source && o.source.notAfter > c.creds.notAfter) { this.retire(c); continue; }
      if (c.usable && c.inUse < this.capacity(c)) { this.reserve(c); return Promise.resolve(c); }
    }
    for (const p of entry.pending) {
      if (p.creds === o.source && p.reserved < this.maxStreams) { p.reserved++; return p.conn; }
    }
    const pending: PendingDial = {
      creds: o.source,
      reserved: 1,
      conn: dial({ source: o.source, target: o.target, via: o.via, flow: this.flow, timeoutMs }).then(
        (d) => this.adopt(key, o.source, d.session, pending.reserved),
        (err: unknown) => { this.counts.handshakeFailures++; throw err; },
      ).finally(() => {
        const e = this.entries.get(key);
        if (!e) return;
        e.pending = e.pending.filter((p) => p !== pending);
        if (e.conns.length === 0 && e.pending.length === 0) this.entries.delete(key);
      }),
    };
    entry.pending.push(pending);
    return pending.conn;
  }

  private adopt(key: string, creds: Credentials, session: ClientHttp2Session, reserved: number): Conn {
    this.counts.handshakes++;
    const conn: Conn = { id: this.nextId++, key, session, creds, inUse: reserved, usable: !this.closed };
    this.live.add(conn);
    const entry = this.entries.get(key) ?? { conns: [], pending: [] };
    this.entries.set(key, entry);
    entry.conns.push(conn);
    const log = this.log.child({ conn: conn.id, target: key });
    session.on('goaway', (code: number) => { conn.goawayCode = code; log.debug('hbone goaway', { code }); this.retire(conn); });
    session.on('error', (err: Error) => log.debug('hbone connection error', { err }));
    session.once('close', () => {
      clearTimeout(conn.idleTimer);
      this.retire(conn);
      this.live.delete(conn);
    });
    if (this.closed) session.close();
    return conn;
  }

  private reserve(c: Conn): void {
    c.inUse++;
    if (c.idleTimer) { clearTimeout(c.idleTimer); c.idleTimer = undefined; c.session.ref(); }
  }

  private release(c: Conn): void {
    c.inUse--;
    if (c.inUse > 0 || c.session.destroyed) return;
    if (!c.usable) { c.session.close(); return; }
    // Idle: do not keep the process alive for it, and close it after the idle timeout.
    c.session.unref();
    c.idleTimer = setTimeout(() => { this.retire(c); c.session.close(); }, this.idleTimeoutMs);
    c.idleTimer.unref();
  }

  /** Take a connection out of rotation; it closes once its last stream ended. */
  private retire(c: Conn): void {
    c.usable = false;
    const entry = this.entries.get(c.key);
    if (entry) {
      entry.conns = entry.conns.filter((x) => x !== c);
      if (entry.conns.length === 0 && entry.pending.length === 0) this.entries.delete(c.key);
    }
    if (c.inUse === 0 && !c.session.closed && !c.session.destroyed) c.session.close();
  }

  private finalError(err: unknown, conn: Conn, name: string): AmbitError {
    if (isAmbitError(err)) return err;
    if (conn.goawayCode === NGHTTP2_INADEQUATE_SECURITY) {
      return new AmbitError('AMBIT_E_TLS_PEER', `HBONE server ${name} refused our identity ${conn.creds.identity}`, {
        hint: 'the server only accepts peers of its trust domain; check the mesh trust domain on both ends', cause: err,
      });
    }
    return new AmbitError('AMBIT_E_HBONE_CONNECT', `HBONE connection to ${name} closed before the CONNECT was answered: ${(err as Error)?.message ?? String(err)}`, {
      hint: 'the HBONE endpoint restarted or dropped the connection repeatedly; check its logs', cause: err,
    });
  }
}
