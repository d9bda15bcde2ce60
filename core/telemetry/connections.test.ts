import { afterEach, describe, expect, it } from 'vitest';
import { setLogSink } from '../log.js';
import { MeshMetrics } from '../metrics/mesh-metrics.js';
import { ConnectionTracker } from './connections.js';

const lines: string[] = [];
setLogSink({ write: (l: string) => lines.push(l) });
afterEach(() => {
  lines.length = 0;
});

const A = 'spiffe://cluster.local/ns/shop/sa/order';
const B = 'spiffe://cluster.local/ns/shop/sa/payment';

function open(t: ConnectionTracker, withMetrics = true) {
  return t.track({
    direction: 'inbound',
    src: { address: '10.244.0.5', port: 40000, identity: A, workload: 'order', namespace: 'shop' },
    dst: {
      address: '10.244.0.9',
      port: 8080,
      identity: B,
      workload: 'payment',
      namespace: 'shop',
      service: 'payment.shop.svc.cluster.local',
    },
    ...(withMetrics
      ? {
          metrics: {
            reporter: 'destination' as const,
            source: { workload: 'order', namespace: 'shop', principal: A },
            destination: { workload: 'payment', namespace: 'shop', principal: B },
            securityPolicy: 'mutual_tls' as const,
          },
        }
      : {}),
  });
}

function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name + '{'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf('}') + 1));
}

describe('ConnectionTracker', () => {
  it('lists open connections with identities, addresses and bytes', () => {
    const t = new ConnectionTracker();
    const c = open(t, false);
    c.addReceived(10);
    c.addSent(25);
    const [s] = t.list();
    expect(s).toMatchObject({
      id: c.id,
      direction: 'inbound',
      bytesReceived: 10,
      bytesSent: 25,
      src: { identity: A, address: '10.244.0.5' },
      dst: { identity: B, port: 8080 },
    });
    expect(Date.parse(s!.start)).not.toBeNaN();
    c.close('eof');
    expect(t.list()).toEqual([]);
  });

  it('emits exactly one "connection complete" line per connection', () => {
    const t = new ConnectionTracker();
    const c = open(t, false);
    c.addReceived(3);
    c.close('peer closed', { received: 100, sent: 7 });
    c.close('again');
    const logs = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.msg === 'connection complete');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      level: 'info',
      direction: 'inbound',
      reason: 'peer closed',
      bytes_received: 100,
      bytes_sent: 7,
      src: { addr: '10.244.0.5:40000', identity: A },
      dst: { addr: '10.244.0.9:8080', identity: B, service: 'payment.shop.svc.cluster.local' },
    });
    expect(typeof logs[0]!.duration_ms).toBe('number');
  });

  it('updates the Istio TCP metrics (incremental bytes plus the delta of close totals)', async () => {
    const metrics = new MeshMetrics({ component: 'agent', http: false });
    const t = new ConnectionTracker({ metrics });
    const c = open(t);
    c.addReceived(50);
    let text = await metrics.text();
    expect(metricValue(text, 'istio_tcp_connections_opened_total')).toBe(1);
    expect(metricValue(text, 'istio_tcp_received_bytes_total')).toBe(50);
    expect(metricValue(text, 'istio_tcp_connections_closed_total')).toBe(0);
    expect(metricValue(text, 'ambit_active_connections')).toBe(1);
    c.close('eof', { received: 80, sent: 1000 });
    text = await metrics.text();
    expect(metricValue(text, 'istio_tcp_received_bytes_total')).toBe(80);
    expect(metricValue(text, 'istio_tcp_sent_bytes_total')).toBe(1000);
    expect(metricValue(text, 'istio_tcp_connections_closed_total')).toBe(1);
    expect(metricValue(text, 'ambit_active_connections')).toBe(0);
    c.addSent(5); // a late event after close is not counted twice
    expect(metricValue(await metrics.text(), 'istio_tcp_sent_bytes_total')).toBe(1000);
  });

  it('whenIdle resolves true once the last connection closes, false on timeout', async () => {
    const t = new ConnectionTracker();
    expect(await t.whenIdle(1)).toBe(true);
    const c = open(t, false);
    expect(await t.whenIdle(5)).toBe(false);
    const idle = t.whenIdle(60_000);
    c.close('drain');
    expect(await idle).toBe(true);
  });

  it('lists the live counts of an open connection, reads them only when listed, and logs the close totals', () => {
    const t = new ConnectionTracker();
    const c = open(t, false);
    const relayCounts = { received: 0, sent: 0 };
    let reads = 0;
    c.readLive(() => {
      reads++;
      return relayCounts;
    });
    relayCounts.received = 1200;
    relayCounts.sent = 300;
    expect(reads).toBe(0);
    expect(t.list().map((x) => [x.bytesReceived, x.bytesSent])).toEqual([[1200, 300]]);
    // Bytes also counted directly: the larger count shows.
    c.addSent(500);
    expect(t.list().map((x) => [x.bytesReceived, x.bytesSent])).toEqual([[1200, 500]]);
    c.close('done', { received: 1500, sent: 600 });
    const readsAtClose = reads;
    relayCounts.received = 9999;
    expect(t.list()).toEqual([]);
    expect(c.bytesReceived).toBe(1500);
    expect(reads).toBe(readsAtClose);
    const line = JSON.parse(lines.find((l) => l.includes('connection complete'))!) as Record<string, unknown>;
    expect([line.bytes_received, line.bytes_sent]).toEqual([1500, 600]);
  });
});
