// The DNS proxy without sockets in pods: mesh names answered with their VIPs in every form a
// pod's resolver sends, the rest forwarded (through a real UDP/TCP test resolver on
// loopback), garbage dropped, upstream failure answered SERVFAIL.
import dgram from 'node:dgram';
import net from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import {
  addressRecord,
  decodeMessage,
  encodeMessage,
  queryMessage,
  RCODE,
  recordAddress,
  TYPE,
} from '../../core/dns/wire.js';
import type { MeshSnapshot, Service } from '../../core/model/types.js';
import { DEFAULT_MESH_CONFIG } from '../../core/model/types.js';
import { NameTable } from './name-table.js';
import { DnsProxy, type DnsClient } from './proxy.js';
import { Forwarder, nameserversOf, parseUpstreams } from './upstream.js';

const svc = (over: Partial<Service> & Pick<Service, 'name' | 'namespace' | 'hostname'>): Service => ({
  key: `${over.namespace}/${over.hostname}`,
  vips: [],
  ports: [{ port: 80, targetPort: 80, protocol: 'http' }],
  endpoints: [],
  ...over,
});

const snapshot: MeshSnapshot = {
  version: '1',
  mesh: DEFAULT_MESH_CONFIG,
  workloads: [],
  authorizationPolicies: [],
  peerAuthentications: [],
  services: [
    svc({ name: 'payment', namespace: 'shop', hostname: 'payment.shop.svc.cluster.local', vips: ['10.96.0.5'] }),
    svc({ name: 'payment', namespace: 'bank', hostname: 'payment.bank.svc.cluster.local', vips: ['10.96.0.6'] }),
    svc({
      name: 'api',
      namespace: 'shop',
      hostname: 'api.example.com',
      vips: ['240.240.1.2', '2001:2::102'],
      external: true,
      resolution: 'DNS',
    }),
    svc({
      name: 'private',
      namespace: 'bank',
      hostname: 'private.example.com',
      vips: ['240.240.1.3'],
      exportTo: ['bank'],
    }),
    svc({
      name: 'db',
      namespace: 'shop',
      hostname: 'db.shop.svc.cluster.local',
      endpoints: [{ address: '10.244.0.7' }, { address: '10.244.0.8' }],
    }),
    svc({ name: 'noaddr', namespace: 'shop', hostname: 'noaddr.example.com', external: true, resolution: 'DNS' }),
  ],
};

const shopV4: DnsClient = { namespace: 'shop', families: [4] };
const log = createLogger('dns-test');

/** A tiny resolver on loopback (UDP and TCP): answers every A query with 192.0.2.1, counts queries. */
class TestResolver {
  queries: string[] = [];
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private tcpServer(): net.Server {
    return net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        const answer = this.answer(d.subarray(2));
        const len = Buffer.alloc(2);
        len.writeUInt16BE(answer.length);
        s.end(Buffer.concat([len, answer]));
      });
    });
  }
  port = 0;
  private answer(bytes: Buffer): Buffer {
    const q = decodeMessage(bytes);
    this.queries.push(q.questions[0]!.name);
    const nx = q.questions[0]!.name.startsWith('nx.');
    return encodeMessage({
      ...q,
      response: true,
      rcode: nx ? RCODE.NXDOMAIN : RCODE.NOERROR,
      answers: nx ? [] : [addressRecord(q.questions[0]!.name, '192.0.2.1', 60)],
    });
  }
  /** UDP on a free port, then TCP on the same number; another number when TCP's is taken. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket('udp4');
      udp.on('message', (m, r) => udp.send(this.answer(m), r.port, r.address));
      await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
      this.port = udp.address().port;
      const tcp = this.tcpServer();
      const ok = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false));
        tcp.listen(this.port, '127.0.0.1', () => resolve(true));
      });
      if (ok) {
        this.udp = udp;
        this.tcp = tcp;
        return;
      }
      udp.close();
      if (attempt >= 20) throw new Error('no free port pair for the test resolver');
    }
  }
  async stop(): Promise<void> {
    this.udp?.close();
    await new Promise((r) => (this.tcp ? this.tcp.close(r) : r(undefined)));
  }
}

const resolver = new TestResolver();
let proxy: DnsProxy;
let capture = true;

beforeAll(async () => {
  await resolver.start();
  proxy = new DnsProxy({
    names: () => new NameTable(snapshot),
    capture: () => capture,
    upstream: new Forwarder({ servers: [{ address: '127.0.0.1', port: resolver.port }] }),
    log,
  });
});
afterAll(() => resolver.stop());

async function ask(
  name: string,
  type: number = TYPE.A,
  client = shopV4,
  transport: 'udp' | 'tcp' = 'udp',
): Promise<{ rcode: number; addresses: string[]; id: number; question: string }> {
  const id = Math.floor(Math.random() * 65535);
  const out = await proxy.handle(encodeMessage(queryMessage(id, name, type)), client, transport);
  const m = decodeMessage(out!);
  return {
    rcode: m.rcode,
    addresses: m.answers.map((r) => recordAddress(r)!),
    id: m.id,
    question: m.questions[0]!.name,
  };
}

describe('DNS proxy', () => {
  it('answers a Kubernetes service in every form, relative to the pod namespace', async () => {
    for (const name of [
      'payment',
      'payment.shop',
      'payment.shop.svc',
      'payment.shop.svc.cluster.local',
      'PAYMENT.shop.svc.cluster.local.',
    ]) {
      const a = await ask(name);
      expect(a, name).toMatchObject({ rcode: RCODE.NOERROR, addresses: ['10.96.0.5'] });
    }
    expect((await ask('payment.bank')).addresses).toEqual(['10.96.0.6']);
    expect((await ask('payment', TYPE.A, { namespace: 'bank', families: [4] })).addresses).toEqual(['10.96.0.6']);
    expect(resolver.queries).toEqual([]);
  });

  it('answers a ServiceEntry host with its auto VIP; AAAA only to a pod with IPv6', async () => {
    expect(await ask('api.example.com')).toMatchObject({ rcode: RCODE.NOERROR, addresses: ['240.240.1.2'] });
    expect(await ask('api.example.com', TYPE.AAAA)).toMatchObject({ rcode: RCODE.NOERROR, addresses: [] });
    const dual = await ask('api.example.com', TYPE.AAAA, { namespace: 'shop', families: [4, 6] });
    expect(dual.addresses).toEqual(['2001:2:0:0:0:0:0:102']);
  });

  it('keeps the id and the question as asked', async () => {
    const a = await ask('Api.Example.com');
    expect(a.question).toBe('Api.Example.com');
    expect(a.addresses).toEqual(['240.240.1.2']);
  });

  it('answers a headless service with its endpoints', async () => {
    expect((await ask('db')).addresses).toEqual(['10.244.0.7', '10.244.0.8']);
  });

  it('forwards names outside the mesh, not exported here, or without an address, over UDP and TCP', async () => {
    resolver.queries = [];
    expect(await ask('www.example.org')).toMatchObject({ rcode: RCODE.NOERROR, addresses: ['192.0.2.1'] });
    expect(await ask('private.example.com')).toMatchObject({ addresses: ['192.0.2.1'] });
    expect((await ask('private.example.com', TYPE.A, { namespace: 'bank', families: [4] })).addresses).toEqual([
      '240.240.1.3',
    ]);
    expect(await ask('noaddr.example.com')).toMatchObject({ addresses: ['192.0.2.1'] });
    expect(await ask('nx.example.org', TYPE.A, shopV4, 'tcp')).toMatchObject({ rcode: RCODE.NXDOMAIN });
    expect(resolver.queries).toEqual([
      'www.example.org',
      'private.example.com',
      'noaddr.example.com',
      'nx.example.org',
    ]);
  });

  it('forwards everything when the mesh turns DNS capture off', async () => {
    resolver.queries = [];
    capture = false;
    try {
      expect((await ask('payment')).addresses).toEqual(['192.0.2.1']);
    } finally {
      capture = true;
    }
    expect(resolver.queries).toEqual(['payment']);
  });

  it('drops garbage and answers; an unreachable upstream gives SERVFAIL', async () => {
    expect(await proxy.handle(Buffer.from('not dns at all'), shopV4, 'udp')).toBeUndefined();
    const answer = encodeMessage({ ...queryMessage(1, 'x.org', TYPE.A), response: true });
    expect(await proxy.handle(answer, shopV4, 'udp')).toBeUndefined();
    const dead = new DnsProxy({
      names: () => new NameTable(snapshot),
      capture: () => true,
      upstream: new Forwarder({ servers: [{ address: '127.0.0.1', port: 9 }], udpTimeoutMs: 300 }),
      log,
    });
    const out = await dead.handle(encodeMessage(queryMessage(7, 'www.example.org', TYPE.A)), shopV4, 'udp');
    expect(decodeMessage(out!)).toMatchObject({ id: 7, rcode: RCODE.SERVFAIL });
  });
});

/** `name{labels} value` lines of a registry as label maps with their values. */
async function series(registry: Registry, name: string): Promise<Array<Record<string, string>>> {
  const text = await registry.metrics();
  return [...text.matchAll(new RegExp(`^${name}\\{(.*)\\} (\\S+)$`, 'gm'))].map((m) => ({
    ...Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!])),
    value: m[2]!,
  }));
}

describe('DNS proxy metrics (ztunnel names and labels)', () => {
  it('counts queries by type, transport and source; forwards, their failures and duration', async () => {
    const registry = new Registry();
    const source = { name: 'web-7d4f9c8b6d-q2x8z', namespace: 'shop', identity: 'spiffe://x/ns/shop/sa/web' };
    const web: DnsClient = { ...shopV4, workload: { ...source, labels: { app: 'web', version: 'v2' } } };
    const counting = new DnsProxy({
      names: () => new NameTable(snapshot),
      capture: () => true,
      upstream: new Forwarder({ servers: [{ address: '127.0.0.1', port: resolver.port }] }),
      log,
      registry,
    });
    const query = (name: string, type: number, client: DnsClient, transport: 'udp' | 'tcp', proxy = counting) =>
      proxy.handle(encodeMessage(queryMessage(9, name, type)), client, transport);
    await query('payment', TYPE.A, web, 'udp'); // answered here
    await query('payment', TYPE.AAAA, web, 'udp'); // answered here
    await query('www.example.org', TYPE.A, web, 'tcp'); // forwarded
    await query('www.example.org', TYPE.A, shopV4, 'udp'); // forwarded, from a pod without a workload
    const requests = await series(registry, 'istio_dns_requests_total');
    const row = (type: string, protocol: string, service: string) =>
      requests.find(
        (r) =>
          r.request_query_type === type && r.request_protocol === protocol && r.source_canonical_service === service,
      )?.value;
    expect(row('a', 'udp', 'web')).toBe('1');
    expect(row('aaaa', 'udp', 'web')).toBe('1');
    expect(row('a', 'tcp', 'web')).toBe('1');
    expect(row('a', 'udp', 'unknown')).toBe('1');
    expect(requests.find((r) => r.source_canonical_service === 'web')?.source_canonical_revision).toBe('v2');
    const upstream = await series(registry, 'istio_dns_upstream_requests_total');
    expect(upstream.map((r) => [r.request_protocol, r.source_canonical_service, r.value]).sort()).toEqual([
      ['tcp', 'web', '1'],
      ['udp', 'unknown', '1'],
    ]);
    expect(await series(registry, 'istio_dns_upstream_failures_total')).toEqual([]);
    const counts = await series(registry, 'istio_dns_upstream_request_duration_seconds_count');
    expect(counts.map((r) => r.value).sort()).toEqual(['1', '1']);

    // An unreachable upstream: a failure, counted and timed, on the same registry (a second proxy).
    const dead = new DnsProxy({
      names: () => new NameTable(snapshot),
      capture: () => true,
      upstream: new Forwarder({ servers: [{ address: '127.0.0.1', port: 9 }], udpTimeoutMs: 200 }),
      log,
      registry,
    });
    await query('www.example.org', TYPE.A, web, 'udp', dead);
    const failures = await series(registry, 'istio_dns_upstream_failures_total');
    expect(failures).toEqual([
      {
        request_query_type: 'a',
        request_protocol: 'udp',
        source_canonical_service: 'web',
        source_canonical_revision: 'v2',
        value: '1',
      },
    ]);
  });
});

describe('upstream configuration', () => {
  it('reads nameservers from resolv.conf and AMBIT_DNS_UPSTREAMS', () => {
    expect(nameserversOf('# c\nsearch a.b\nnameserver 10.0.0.10\nnameserver fe80::1%eth0\nnameserver x\n')).toEqual([
      { address: '10.0.0.10', port: 53 },
      { address: 'fe80::1', port: 53 },
    ]);
    expect(parseUpstreams('10.0.0.1, 10.0.0.2:5353,[::1]:53,fd00::1')).toEqual([
      { address: '10.0.0.1', port: 53 },
      { address: '10.0.0.2', port: 5353 },
      { address: '::1', port: 53 },
      { address: 'fd00::1', port: 53 },
    ]);
    expect(() => parseUpstreams('dns.example.com')).toThrow(/AMBIT_DNS_UPSTREAMS|expected ip/);
  });
});

describe('DNS proxy on demand', () => {
  it('looks an unknown name up once (every form), then answers from what the controller sent', async () => {
    const extra = svc({ name: 'late', namespace: 'shop', hostname: 'late.example.com', vips: ['240.240.7.7'] });
    let table = new NameTable(snapshot);
    const asked: string[] = [];
    const onDemand = new DnsProxy({
      names: () => table,
      capture: () => true,
      upstream: new Forwarder({ servers: [{ address: '127.0.0.1', port: resolver.port }] }),
      log,
      lookup: async (name) => {
        asked.push(name);
        await new Promise((r) => setTimeout(r, 20));
        if (name === 'late.example.com') table = new NameTable({ services: [...snapshot.services, extra] });
      },
    });
    const q = async (name: string): Promise<string[]> =>
      decodeMessage((await onDemand.handle(encodeMessage(queryMessage(3, name, TYPE.A)), shopV4, 'udp'))!).answers.map(
        (r) => recordAddress(r)!,
      );
    // The A and AAAA queries of one getaddrinfo arrive together: both wait for the one lookup.
    const [a, aaaa] = await Promise.all([
      q('late.example.com'),
      onDemand.handle(encodeMessage(queryMessage(4, 'late.example.com', TYPE.AAAA)), shopV4, 'udp'),
    ]);
    expect(a).toEqual(['240.240.7.7']);
    expect(decodeMessage(aaaa!)).toMatchObject({ rcode: RCODE.NOERROR, answers: [] });
    expect(await q('other')).toEqual(['192.0.2.1']);
    expect(await q('other')).toEqual(['192.0.2.1']);
    expect(asked).toEqual(['late.example.com', 'other', 'other.shop.svc.cluster.local']);
  });
});
