// One pod's DNS listeners, inside its network namespace: UDP and TCP on 127.0.0.1 (and ::1
// for a pod with IPv6) at the DNS port (15053), where the pod's capture rules REDIRECT its
// queries to port 53. Loopback only: no other pod can reach them. SO_REUSEPORT, so a new
// agent listens next to the old one during a restart. TCP connections are bounded: one
// message at most 65535 bytes, an idle deadline, and a cap on queries per connection.
import dgram from 'node:dgram';
import type net from 'node:net';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { MAX_MESSAGE } from '../../core/dns/wire.js';
import { netnsAddon } from '../inpod/native.js';
import { listenInNetns } from '../inpod/sockets.js';
import { MAX_PENDING_PER_POD, type DnsClient, type DnsProxy } from './proxy.js';

export const TCP_IDLE_MS = 10_000;
export const TCP_MAX_QUERIES = 100;

export interface PodDnsOptions {
  netnsPath: string;
  port: number;
  families: readonly (4 | 6)[];
  proxy: DnsProxy;
  client: () => DnsClient;
  log: Logger;
}

/** The UDP and TCP listeners of one pod; close() releases them and every open TCP connection. */
export class PodDns {
  private pending = 0;
  private constructor(
    private readonly udp: dgram.Socket[],
    private readonly tcp: net.Server[],
    private readonly conns: Set<net.Socket>,
  ) {}

  static async open(o: PodDnsOptions): Promise<PodDns> {
    const dns = new PodDns([], [], new Set());
    try {
      for (const family of o.families) {
        const host = family === 6 ? '::1' : '127.0.0.1';
        dns.udp.push(await dns.openUdp(o, family, host));
        const server = await listenInNetns(o.netnsPath, o.port, host, { reusePort: true });
        server.on('connection', (s: net.Socket) => dns.serveTcp(s, o));
        server.on('error', (err) => o.log.error('DNS listener error', { err: describeError(err) }));
        dns.tcp.push(server);
      }
    } catch (err) {
      await dns.close();
      throw err;
    }
    return dns;
  }

  private async openUdp(o: PodDnsOptions, family: 4 | 6, host: string): Promise<dgram.Socket> {
    const addon = netnsAddon();
    const fd = addon.socketInNetns(o.netnsPath, family, 'udp');
    try {
      addon.bindTo(fd, host, o.port, true, true);
    } catch (err) {
      addon.closeFd(fd);
      throw err;
    }
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    sock.on('error', (err) => o.log.error('DNS UDP socket error', { err: describeError(err) }));
    sock.on('message', (msg, from) => {
      // A pod flooding its resolver loses the excess, never the agent.
      if (this.pending >= MAX_PENDING_PER_POD) return;
      this.pending++;
      o.proxy
        .handle(msg, o.client(), 'udp')
        .then((answer) => {
          if (answer) sock.send(answer, from.port, from.address);
        })
        .catch((err: unknown) => o.log.warn('DNS query failed', { err: describeError(err) }))
        .finally(() => this.pending--);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ fd }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    return sock;
  }

  private serveTcp(s: net.Socket, o: PodDnsOptions): void {
    this.conns.add(s);
    s.once('close', () => this.conns.delete(s));
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('error', () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let queries = 0;
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) {
          if (buf.length > MAX_MESSAGE + 2) s.destroy();
          return;
        }
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (++queries > TCP_MAX_QUERIES || this.pending >= MAX_PENDING_PER_POD) {
          s.destroy();
          return;
        }
        this.pending++;
        o.proxy
          .handle(msg, o.client(), 'tcp')
          .then((answer) => {
            if (!answer) return void s.destroy(); // garbage closes this connection only
            const prefix = Buffer.alloc(2);
            prefix.writeUInt16BE(answer.length);
            if (!s.destroyed) s.write(Buffer.concat([prefix, answer]));
          })
          .catch((err: unknown) => {
            o.log.warn('DNS query failed', { err: describeError(err) });
            s.destroy();
          })
          .finally(() => this.pending--);
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.conns) s.destroy();
    await Promise.all([
      ...this.udp.map((u) => new Promise<void>((r) => u.close(() => r()))),
      ...this.tcp.map((t) => new Promise<void>((r) => (t.listening ? t.close(() => r()) : r()))),
    ]);
  }
}
