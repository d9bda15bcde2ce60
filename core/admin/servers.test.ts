import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isAmbitError } from '../errors.js';
import { getLogLevel, setLogLevel, setLogSink } from '../log.js';
import { tcpLabels } from '../metrics/labels.js';
import { MeshMetrics } from '../metrics/mesh-metrics.js';
import { ConnectionTracker } from '../telemetry/connections.js';
import { startAdminServers, type AdminServers } from './servers.js';

setLogSink({ write: () => true });
const LO = '127.0.0.1';
let running: AdminServers | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  setLogLevel('info');
});

const url = (addr: { port: number } | undefined, path: string) => `http://${LO}:${addr!.port}${path}`;

describe('admin servers (real HTTP on loopback)', () => {
  it('serves config_dump, readiness, connections and logging on the admin port', async () => {
    let ready = false;
    const tracker = new ConnectionTracker();
    const c = tracker.track({
      direction: 'inbound',
      src: { address: '10.0.0.1', port: 1234, identity: 'spiffe://td/ns/a/sa/b' },
      dst: { address: '10.0.0.2', port: 80 },
    });
    c.addReceived(5);
    running = await startAdminServers({
      admin: { host: LO, port: 0 },
      isReady: () => ready,
      dump: async () => ({ workloads: [{ uid: 'Pod/a/x' }], version: '7' }),
      connections: () => tracker.list(),
      extraRoutes: { '/debug/pools': () => ({ hbone: 2 }) },
      mutationToken: 'sekrit-token',
    });
    expect(running.admin!.address).toBe(LO);

    const dump = await fetch(url(running.admin, '/config_dump'));
    expect(dump.status).toBe(200);
    expect(dump.headers.get('content-type')).toContain('application/json');
    expect(await dump.json()).toEqual({ workloads: [{ uid: 'Pod/a/x' }], version: '7' });

    expect((await fetch(url(running.admin, '/healthz/ready'))).status).toBe(503);
    ready = true;
    expect((await fetch(url(running.admin, '/healthz/ready'))).status).toBe(200);

    const conns = (await (await fetch(url(running.admin, '/debug/connections'))).json()) as Array<
      Record<string, unknown>
    >;
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({
      direction: 'inbound',
      bytesReceived: 5,
      src: { identity: 'spiffe://td/ns/a/sa/b' },
    });
    expect(await (await fetch(url(running.admin, '/debug/pools'))).json()).toEqual({ hbone: 2 });

    const auth = { authorization: 'Bearer sekrit-token' };
    const set = await fetch(url(running.admin, '/logging?level=debug'), { method: 'POST', headers: auth });
    expect(set.status).toBe(200);
    expect(getLogLevel()).toBe('debug');
    const bad = await fetch(url(running.admin, '/logging?level=loud'), { method: 'POST', headers: auth });
    expect(bad.status).toBe(400);
    expect(getLogLevel()).toBe('debug');
    // GET shows the level and changes nothing
    const shown = await fetch(url(running.admin, '/logging?level=warn'));
    expect(await shown.json()).toEqual({ level: 'debug' });
    expect(getLogLevel()).toBe('debug');
    expect((await fetch(url(running.admin, '/logging'), { method: 'PUT' })).status).toBe(405);

    expect((await fetch(url(running.admin, '/nope'))).status).toBe(404);
    expect((await fetch(url(running.admin, '/config_dump'), { method: 'DELETE' })).status).toBe(405);
  });

  it('is read-only without a mutation token: POST /logging answers 403 and changes nothing', async () => {
    running = await startAdminServers({ admin: { host: LO, port: 0 }, isReady: () => true, dump: () => ({}) });
    const r = await fetch(url(running.admin, '/logging?level=debug'), {
      method: 'POST',
      headers: { authorization: 'Bearer x' },
    });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { hint: string }).hint).toMatch(/AMBIT_ADMIN_TOKEN/);
    expect(getLogLevel()).toBe('info');
    expect(await (await fetch(url(running.admin, '/logging'))).json()).toEqual({ level: 'info' });
  });

  it('with a mutation token, refuses a missing or wrong token and accepts the right one', async () => {
    running = await startAdminServers({
      admin: { host: LO, port: 0 },
      isReady: () => true,
      dump: () => ({}),
      mutationToken: 't0ken',
    });
    const post = (headers: Record<string, string>) =>
      fetch(url(running!.admin, '/logging?level=warn'), { method: 'POST', headers });
    expect((await post({})).status).toBe(403);
    expect((await post({ authorization: 'Bearer t0ke' })).status).toBe(403);
    expect((await post({ authorization: 'Bearer t0ken-and-more' })).status).toBe(403);
    expect((await post({ authorization: 'Basic t0ken' })).status).toBe(403);
    expect(getLogLevel()).toBe('info');
    expect((await post({ authorization: 'Bearer t0ken' })).status).toBe(200);
    expect(getLogLevel()).toBe('warn');
  });

  it('answers 500 with the error when the dump callback throws, and keeps serving', async () => {
    let fail = true;
    running = await startAdminServers({
      admin: { host: LO, port: 0 },
      isReady: () => true,
      dump: () => {
        if (fail) throw new Error('snapshot missing');
        return { ok: true };
      },
    });
    const r = await fetch(url(running.admin, '/config_dump'));
    expect(r.status).toBe(500);
    expect(((await r.json()) as { error: string }).error).toContain('snapshot missing');
    fail = false;
    expect((await fetch(url(running.admin, '/config_dump'))).status).toBe(200);
  });

  it('serves Prometheus text on the metrics port and readiness on its own port', async () => {
    const metrics = new MeshMetrics({ component: 'agent', http: false });
    metrics.tcpSeries(tcpLabels({ reporter: 'destination', securityPolicy: 'mutual_tls' })).opened();
    let ready = true;
    running = await startAdminServers({
      metrics: { host: LO, port: 0 },
      ready: { host: LO, port: 0 },
      isReady: () => ready,
      dump: () => ({}),
      registry: metrics.registry,
    });
    expect(running.admin).toBeUndefined();
    expect(running.metrics!.port).not.toBe(running.ready!.port);
    const m = await fetch(url(running.metrics, '/metrics'));
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toContain('text/plain');
    const text = await m.text();
    expect(text).toMatch(/^istio_tcp_connections_opened_total\{reporter="destination".*\} 1$/m);
    expect((await fetch(url(running.metrics, '/stats/prometheus'))).status).toBe(200);
    expect((await fetch(url(running.metrics, '/config_dump'))).status).toBe(404);
    expect((await fetch(url(running.ready, '/healthz/ready'))).status).toBe(200);
    ready = false;
    expect((await fetch(url(running.ready, '/healthz/ready'))).status).toBe(503);
    expect((await fetch(url(running.ready, '/metrics'))).status).toBe(404);
  });

  it('shares one server when metrics and readiness use the same port', async () => {
    const probe = createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, LO, () => resolve((probe.address() as { port: number }).port)),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    running = await startAdminServers({
      metrics: { host: LO, port },
      ready: { host: LO, port },
      isReady: () => true,
      dump: () => ({}),
    });
    expect(running.ready!.port).toBe(port);
    expect((await fetch(url(running.ready, '/healthz/ready'))).status).toBe(200);
    expect((await fetch(url(running.metrics, '/metrics'))).status).toBe(200);
  });

  it('readiness with readyDetail answers the detail as JSON, on /healthz/ready and each alias', async () => {
    let ready = false;
    running = await startAdminServers({
      ready: { host: LO, port: 0 },
      isReady: () => ready,
      readyDetail: () => ({ synced: ready }),
      readyAliases: ['/ready'],
      dump: () => ({}),
    });
    for (const path of ['/healthz/ready', '/ready']) {
      const notReady = await fetch(url(running.ready, path));
      expect(notReady.status).toBe(503);
      expect(notReady.headers.get('content-type')).toBe('application/json');
      expect(await notReady.json()).toEqual({ synced: false });
    }
    ready = true;
    const ok = await fetch(url(running.ready, '/ready'));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ synced: true });
    expect((await fetch(url(running.ready, '/other'))).status).toBe(404);
  });

  it('fails with a clear error when a port is taken, leaving nothing listening', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, LO, () => resolve((blocker.address() as { port: number }).port)),
    );
    try {
      const err = await startAdminServers({
        admin: { host: LO, port: 0 },
        metrics: { host: LO, port },
        isReady: () => true,
        dump: () => ({}),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isAmbitError(err, 'AMBIT_E_CONFIG')).toBe(true);
      expect((err as Error).message).toContain(String(port));
      expect((err as { hint?: string }).hint).toContain('in use');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('close() stops every server and is idempotent', async () => {
    const s = await startAdminServers({ admin: { host: LO, port: 0 }, isReady: () => true, dump: () => ({}) });
    const u = url(s.admin, '/healthz/ready');
    expect((await fetch(u)).status).toBe(200);
    await s.close();
    await s.close();
    await expect(fetch(u)).rejects.toThrow();
  });
});
