// Forwarding to the upstream resolvers: the nameservers of the agent's resolv.conf (as
// ztunnel does; in a cluster the same cluster DNS the pods' resolv.conf names) or
// AMBIT_DNS_UPSTREAMS. The query's bytes go unchanged and the first well-formed answer with
// the query's id comes back unchanged. UDP tries each server in turn; TCP is used for queries
// that came over TCP (a client retries over TCP after a truncated UDP answer).
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { AmbitError } from '../../core/errors.js';
import { MAX_MESSAGE, messageId } from '../../core/dns/wire.js';

export interface UpstreamServer {
  readonly address: string;
  readonly port: number;
}

export interface Upstream {
  exchange(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer>;
}

/** `nameserver` lines of a resolv.conf text (IP literals only; a zone index is dropped). */
export function nameserversOf(resolvConf: string): UpstreamServer[] {
  const out: UpstreamServer[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const ip = m?.[1]?.split('%')[0];
    if (ip && net.isIP(ip) !== 0) out.push({ address: ip, port: 53 });
  }
  return out;
}

/** `ip`, `ip:port` or `[ipv6]:port`, comma-separated (AMBIT_DNS_UPSTREAMS). */
export function parseUpstreams(text: string): UpstreamServer[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
      const [ip, port] = bracket
        ? [bracket[1]!, bracket[2]]
        : net.isIP(s) === 6
          ? [s, undefined]
          : [s.split(':')[0]!, s.split(':')[1]];
      const n = port === undefined ? 53 : Number(port);
      if (net.isIP(ip) === 0 || !Number.isInteger(n) || n < 1 || n > 65535)
        throw new AmbitError('AMBIT_E_CONFIG', `DNS upstream "${s}": expected ip, ip:port or [ipv6]:port`);
      return { address: ip, port: n };
    });
}

/** The agent's own resolvers (none when the file is missing). */
export function systemUpstreams(file = '/etc/resolv.conf'): UpstreamServer[] {
  try {
    return nameserversOf(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

export interface ForwarderOptions {
  readonly servers: readonly UpstreamServer[];
  /** Per server and attempt (default 2 s UDP, 5 s TCP). */
  readonly udpTimeoutMs?: number;
  readonly tcpTimeoutMs?: number;
}

export class Forwarder implements Upstream {
  constructor(private readonly o: ForwarderOptions) {}

  async exchange(query: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer> {
    if (this.o.servers.length === 0)
      throw new AmbitError('AMBIT_E_UPSTREAM', 'no upstream DNS server', {
        hint: 'set AMBIT_DNS_UPSTREAMS or give the agent a resolv.conf with nameservers',
      });
    let last: unknown;
    for (const server of this.o.servers) {
      try {
        return transport === 'tcp'
          ? await tcpExchange(server, query, this.o.tcpTimeoutMs ?? 5000)
          : await udpExchange(server, query, this.o.udpTimeoutMs ?? 2000);
      } catch (err) {
        last = err;
      }
    }
    throw new AmbitError('AMBIT_E_UPSTREAM', `no upstream DNS server answered: ${(last as Error).message}`, {
      cause: last,
    });
  }
}

const isAnswerTo = (query: Buffer, reply: Buffer): boolean =>
  reply.length >= 12 && messageId(reply) === messageId(query) && (reply[2]! & 0x80) !== 0;

function udpExchange(server: UpstreamServer, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A fresh socket (random source port) per query: answers are matched by port, address and id.
    const sock = dgram.createSocket(net.isIP(server.address) === 6 ? 'udp6' : 'udp4');
    const done = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => done(new AmbitError('AMBIT_E_TIMEOUT', `${server.address}:${server.port} did not answer`)),
      timeoutMs,
    );
    sock.on('error', (err) => done(err));
    sock.on('message', (reply, from) => {
      if (from.address !== server.address || from.port !== server.port) return;
      if (isAnswerTo(query, reply)) done(undefined, reply);
    });
    sock.send(query, server.port, server.address);
  });
}

function tcpExchange(server: UpstreamServer, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.address, port: server.port });
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, reply?: Buffer): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    sock.setTimeout(timeoutMs, () =>
      done(new AmbitError('AMBIT_E_TIMEOUT', `${server.address}:${server.port} did not answer over TCP`)),
    );
    sock.on('error', (err) => done(err));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length > MAX_MESSAGE + 2) return done(new AmbitError('AMBIT_E_DNS', 'upstream answer too long'));
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) return;
      const reply = buf.subarray(2, 2 + len);
      if (isAnswerTo(query, reply)) done(undefined, Buffer.from(reply));
      else done(new AmbitError('AMBIT_E_DNS', 'upstream answer does not match the query'));
    });
    sock.on('end', () => done(new AmbitError('AMBIT_E_UPSTREAM', 'upstream closed before answering')));
  });
}
