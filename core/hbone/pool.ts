// A pool of HBONE client connections. Key: (netns key, source identity, expected server
// identities, server address:port). Streams share a connection up to a limit, then another
// opens; concurrent connects to a new key share one handshake; idle connections close; a
// connection that dies or gets GOAWAY leaves the pool so new tunnels go to a fresh one.
import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { AmbitError } from '../errors.js';
import type { Credentials } from '../identity/types.js';
import { createLogger } from '../log.js';
import type { Logger } from '../log.js';
import { dial, openTunnel, targetName, TunnelOpenFailure, watchLiveness } from './client.js';
import { connectHeaders } from './headers.js';
import type { HboneConnectOptions, HbonePoolOptions, HbonePoolStats, ResolvedFlow } from './options.js';
import { resolveFlow } from './options.js';

const { NGHTTP2_CANCEL, NGHTTP2_INADEQUATE_SECURITY, NGHTTP2_REFUSED_STREAM } = http2.constants;
const MAX_ATTEMPTS = 3;

interface Conn {
  readonly id: number;
  readonly key: string;
  readonly session: ClientHttp2Session;
  readonly socket: TLSSocket;
  readonly creds: Credentials;
  /** Streams open or reserved on this connection. */
  inUse: number;
  usable: boolean;
  /** The server's SETTINGS arrived: it accepted our certificate. */
  settled: boolean;
  goawayCode?: number;
  idleTimer?: NodeJS.Timeout;
}

interface PendingDial {
  readonly creds: Credentials;
  reserved: number;
  readonly conn: Promise<Conn>;
}
interface Entry {
  conns: Conn[];
  pending: PendingDial[];
}

export class HbonePool {
  private readonly entries = new Map<string, Entry>();
  private readonly live = new Set<Conn>();
  private readonly flow: ResolvedFlow;
  private readonly maxStreams: number;
  private readonly idleTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly ping: { intervalMs: number; timeoutMs: number };
  private readonly log: Logger;
  private nextId = 1;
  private closed = false;
  private counts = { handshakes: 0, handshakeFailures: 0, activeStreams: 0, tunnelsOpened: 0, tunnelsFailed: 0 };

  constructor(opts: HbonePoolOptions = {}) {
    this.flow = resolveFlow(opts);
    this.maxStreams = opts.maxStreamsPerConnection ?? 100;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.timeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.ping = { intervalMs: opts.pingIntervalMs ?? 30_000, timeoutMs: opts.pingTimeoutMs ?? 10_000 };
    this.log = opts.log ?? createLogger('hbone-pool');
  }

  /** Open a tunnel; resolves once the server answered 200 (the Duplex is the HTTP/2 stream). */
  async connect(o: HboneConnectOptions): Promise<Duplex> {
    if (this.closed)
      throw new AmbitError('AMBIT_E_HBONE_POOL', 'HBONE pool is closed', { hint: 'the agent is shutting down' });
    if (!isIP(o.target.address)) {
      throw new AmbitError('AMBIT_E_HBONE_CONNECT', `HBONE target address "${o.target.address}" is not an IP literal`, {
        hint: 'HBONE dials IP addresses only (a DNS lookup could leave the pod network namespace)',
      });
    }
    const headers = connectHeaders({
      authority: o.target.authority,
      forwardedFor: o.forwardedFor,
      traceparent: o.traceparent,
      extraHeaders: o.extraHeaders,
    });
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const name = targetName(o.target);
    let timedOut = false;
    let current: ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        current?.close(NGHTTP2_CANCEL);
        reject(
          new AmbitError(
            'AMBIT_E_TIMEOUT',
            `HBONE tunnel to ${o.target.authority} via ${name} not established in ${timeoutMs} ms`,
            {
              hint: 'the HBONE endpoint or the destination is slow or unreachable; check the destination agent/waypoint',
            },
          ),
        );
      }, timeoutMs);
    });
    const attempt = async (): Promise<Duplex> => {
      for (let n = 1; ; n++) {
        const conn = await this.acquire(o, timeoutMs);
        if (timedOut) {
          this.release(conn);
          throw new Error('timed out');
        }
        let opened: ReturnType<typeof openTunnel>;
        try {
          opened = openTunnel(conn.session, headers, name);
        } catch (err) {
          this.release(conn);
          this.retire(conn);
          if (n < MAX_ATTEMPTS) continue;
          throw new AmbitError(
            'AMBIT_E_HBONE_CONNECT',
            `HBONE connection to ${name} is closing: ${(err as Error).message}`,
            {
              hint: 'the HBONE endpoint restarted or dropped the connection repeatedly; check its logs',
              cause: err,
            },
          );
        }
        current = opened.stream;
        this.counts.activeStreams++;
        opened.stream.once('close', () => {
          this.counts.activeStreams--;
          this.release(conn);
        });
        try {
          return await opened.ready;
        } catch (err) {
          if (!(err instanceof TunnelOpenFailure)) throw err;
          const refusal = this.refusal(err, conn, name);
          if (refusal) throw refusal;
          const retryable = err.sessionGone || err.rstCode === NGHTTP2_REFUSED_STREAM;
          if (retryable) this.retire(conn);
          if (retryable && !timedOut && n < MAX_ATTEMPTS) continue;
          throw new AmbitError(
            retryable ? 'AMBIT_E_HBONE_CONNECT' : 'AMBIT_E_HBONE_RESET',
            `HBONE ${name}: ${err.message}`,
            {
              hint: retryable
                ? 'the HBONE endpoint restarted or dropped the connection repeatedly; check its logs'
                : 'the HBONE server reset the CONNECT; see its logs',
              cause: err,
            },
          );
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
    await Promise.all(
      [...this.live].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.usable = false;
            clearTimeout(c.idleTimer);
            if (c.session.closed || c.session.destroyed) {
              resolve();
              return;
            }
            c.session.once('close', () => resolve());
            c.session.close();
          }),
      ),
    );
  }

  /** Close every connection at once, resetting open tunnels. */
  destroy(): void {
    this.closed = true;
    for (const c of this.live) {
      c.session.destroy();
      c.socket.destroy();
    }
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
    if (!entry) {
      entry = { conns: [], pending: [] };
      this.entries.set(key, entry);
    }
    for (const c of [...entry.conns]) {
      // Newer credentials retire connections made with older ones (rotation): they drain.
      if (c.creds !== o.source && o.source.notAfter > c.creds.notAfter) {
        this.retire(c);
        continue;
      }
      if (c.usable && c.inUse < this.capacity(c)) {
        this.reserve(c);
        return Promise.resolve(c);
      }
    }
    this.entries.set(key, entry); // retire() may have dropped it
    for (const p of entry.pending) {
      if (p.creds === o.source && p.reserved < this.maxStreams) {
        p.reserved++;
        return p.conn;
      }
    }
    const pending: PendingDial = {
      creds: o.source,
      reserved: 1,
      conn: dial({ source: o.source, target: o.target, via: o.via, flow: this.flow, timeoutMs })
        .then(
          (d) => this.adopt(key, o.source, d.session, d.socket, pending.reserved),
          (err: unknown) => {
            this.counts.handshakeFailures++;
            throw err;
          },
        )
        .finally(() => {
          const e = this.entries.get(key);
          if (!e) return;
          e.pending = e.pending.filter((p) => p !== pending);
          if (e.conns.length === 0 && e.pending.length === 0) this.entries.delete(key);
        }),
    };
    entry.pending.push(pending);
    return pending.conn;
  }

  private adopt(
    key: string,
    creds: Credentials,
    session: ClientHttp2Session,
    socket: TLSSocket,
    reserved: number,
  ): Conn {
    this.counts.handshakes++;
    const conn: Conn = {
      id: this.nextId++,
      key,
      session,
      socket,
      creds,
      inUse: reserved,
      usable: !this.closed,
      settled: false,
    };
    this.live.add(conn);
    const entry = this.entries.get(key) ?? { conns: [], pending: [] };
    this.entries.set(key, entry);
    entry.conns.push(conn);
    const log = this.log.child({ conn: conn.id, target: key });
    session.once('remoteSettings', () => {
      conn.settled = true;
    });
    session.on('goaway', (code: number) => {
      conn.goawayCode = code;
      log.debug('hbone goaway', { code });
      this.retire(conn);
    });
    session.on('error', (err: Error) => log.debug('hbone connection error', { err }));
    watchLiveness(session, this.ping.intervalMs, this.ping.timeoutMs, () => {
      log.warn('hbone connection unresponsive: dropped', { pingTimeoutMs: this.ping.timeoutMs });
      this.retire(conn);
      socket.destroy();
    });
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
    if (c.idleTimer) {
      clearTimeout(c.idleTimer);
      c.idleTimer = undefined;
      c.session.ref();
    }
  }

  private release(c: Conn): void {
    c.inUse--;
    if (c.inUse > 0 || c.session.destroyed) return;
    if (!c.usable) {
      c.session.close();
      return;
    }
    // Idle: do not keep the process alive for it, and close it after the idle timeout.
    c.session.unref();
    c.idleTimer = setTimeout(() => {
      this.retire(c);
      c.session.close();
    }, this.idleTimeoutMs);
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

  /** A stream that ended because the server refused our TLS identity (not worth a retry). */
  private refusal(err: TunnelOpenFailure, conn: Conn, name: string): AmbitError | undefined {
    const me = conn.creds.identity;
    if (err.rstCode === NGHTTP2_INADEQUATE_SECURITY || conn.goawayCode === NGHTTP2_INADEQUATE_SECURITY) {
      return new AmbitError('AMBIT_E_TLS_PEER', `HBONE server ${name} refused our identity ${me}`, {
        hint: 'the server only accepts peers of its trust domain; check the mesh trust domain on both ends',
        cause: err,
      });
    }
    if (err.sessionGone && !conn.settled) {
      // TLS 1.3: the client finishes its handshake before the server has checked our
      // certificate; a server that refuses it closes without ever sending SETTINGS.
      return new AmbitError(
        'AMBIT_E_TLS_PEER',
        `HBONE server ${name} closed the connection after the TLS handshake: it refused our certificate (${me})`,
        {
          hint: 'our certificate is expired, not yet valid, or not signed by a CA the server trusts; check the certificate store and the mesh CA',
          cause: err,
        },
      );
    }
    return undefined;
  }
}
