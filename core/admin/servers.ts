// The small HTTP servers every Ambit proxy runs (CONTRACT.md, Ports and Admin endpoints):
//   admin     127.0.0.1:<port>  GET /config_dump, GET /healthz/ready, GET /debug/connections,
//                               POST /logging?level=debug|info|warn|error (GET shows it)
//   The admin port is read-only: a state-changing endpoint (POST /logging) answers 403 unless a
//   mutationToken is configured and the request carries `authorization: Bearer <token>`.
//   metrics   <host>:<port>     GET /metrics (and /stats/prometheus), Prometheus text
//   readiness <host>:<port>     GET /healthz/ready → 200 when ready, else 503 (a JSON body when
//                               readyDetail is given, and readyAliases answer the same)
// Metrics and readiness share one server when given the same non-zero port and host.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { AmbitError, describeError } from '../errors.js';
import { createLogger, getLogLevel, parseLevel, setLogLevel, type Logger } from '../log.js';

export interface Listen {
  readonly host?: string;
  readonly port: number;
}

export interface AdminServersOptions {
  /** Admin endpoint; the host defaults to 127.0.0.1 (never exposed by default). */
  admin?: Listen;
  /** Prometheus endpoint; the host defaults to 0.0.0.0. */
  metrics?: Listen;
  /** Readiness endpoint; the host defaults to 0.0.0.0. */
  ready?: Listen;
  isReady: () => boolean;
  /** When set, readiness answers with this value as JSON (status still from isReady) instead of plain text. */
  readyDetail?: () => unknown;
  /** More paths that answer like /healthz/ready on the readiness server, e.g. `['/ready']`. */
  readyAliases?: readonly string[];
  /** Body of GET /config_dump. */
  dump: () => unknown;
  /** Body of GET /debug/connections. */
  connections?: () => unknown;
  /** Anything with prom-client Registry's `metrics()` and `contentType`. */
  registry?: Pick<Registry, 'metrics' | 'contentType'>;
  /** More admin GET endpoints, e.g. `{ '/debug/pools': () => pool.stats() }`. */
  extraRoutes?: Readonly<Record<string, () => unknown>>;
  /**
   * Enables the state-changing admin endpoints for requests with `authorization: Bearer <token>`.
   * Unset or empty: they answer 403 and the admin port is read-only.
   */
  mutationToken?: string;
  log?: Logger;
}

export interface AdminServers {
  readonly admin?: AddressInfo;
  readonly metrics?: AddressInfo;
  readonly ready?: AddressInfo;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;
/** `methods`: the accepted methods; GET routes also answer HEAD. */
interface Route {
  readonly methods: readonly string[];
  readonly handler: Handler;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value, null, 2) + '\n', 'application/json');
}

function router(routes: ReadonlyMap<string, Route>, log: Logger) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://local');
    const route = routes.get(url.pathname);
    if (!route) return send(res, 404, 'not found\n');
    const method = req.method ?? 'GET';
    const allowed = route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods;
    if (!allowed.includes(method)) {
      res.setHeader('allow', allowed.join(', '));
      return send(res, 405, 'method not allowed\n');
    }
    Promise.resolve()
      .then(() => route.handler(req, res, url))
      .catch((err: unknown) => {
        log.warn('admin handler failed', { path: url.pathname, err: describeError(err) });
        if (!res.headersSent) sendJson(res, 500, { error: describeError(err) });
        else res.destroy();
      });
  };
}

/** Constant-time comparison of the bearer token (hashes first, so lengths never leak). */
function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (v: string): Buffer => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(m[1] ?? ''), digest(token));
}

/** True when the request may change state; otherwise the refusal is already sent. */
function mayMutate(req: IncomingMessage, res: ServerResponse, token: string | undefined, log: Logger): boolean {
  if (!token) {
    sendJson(res, 403, {
      error: 'the admin port is read-only; state-changing endpoints are disabled',
      hint: 'enable them with an admin token (AMBIT_ADMIN_TOKEN) and send authorization: Bearer <token>',
    });
    return false;
  }
  if (!tokenMatches(req.headers.authorization, token)) {
    log.warn('admin mutation refused: missing or wrong token', { path: req.url, remote: req.socket.remoteAddress });
    sendJson(res, 403, {
      error: 'a valid admin token is required',
      hint: 'send authorization: Bearer <AMBIT_ADMIN_TOKEN>',
    });
    return false;
  }
  return true;
}

function readyRoute(isReady: () => boolean, detail?: () => unknown): Route {
  return {
    methods: ['GET'],
    handler: (_req, res) => {
      const ready = isReady();
      if (detail) return sendJson(res, ready ? 200 : 503, detail());
      return ready ? send(res, 200, 'ready\n') : send(res, 503, 'not ready\n');
    },
  };
}

/** The readiness routes of the metrics or readiness server: /healthz/ready and its aliases. */
function readinessRoutes(o: AdminServersOptions, routes = new Map<string, Route>()): Map<string, Route> {
  const route = readyRoute(o.isReady, o.readyDetail);
  for (const path of ['/healthz/ready', ...(o.readyAliases ?? [])]) routes.set(path, route);
  return routes;
}

function adminRoutes(o: AdminServersOptions, log: Logger): Map<string, Route> {
  const routes = new Map<string, Route>();
  routes.set('/config_dump', { methods: ['GET'], handler: async (_q, res) => sendJson(res, 200, await o.dump()) });
  routes.set('/healthz/ready', readyRoute(o.isReady));
  routes.set('/debug/connections', {
    methods: ['GET'],
    handler: async (_q, res) => sendJson(res, 200, o.connections ? await o.connections() : []),
  });
  routes.set('/logging', {
    methods: ['GET', 'POST'],
    handler: (req, res, url) => {
      if (req.method !== 'POST') return sendJson(res, 200, { level: getLogLevel() });
      if (!mayMutate(req, res, o.mutationToken, log)) return;
      const wanted = url.searchParams.get('level') ?? undefined;
      const level = parseLevel(wanted);
      if (!level)
        return sendJson(res, 400, {
          error: `level must be one of debug, info, warn, error (got ${JSON.stringify(wanted ?? '')})`,
        });
      const previous = getLogLevel();
      setLogLevel(level);
      log.info('log level changed', { from: previous, to: level });
      sendJson(res, 200, { level });
    },
  });
  for (const [path, fn] of Object.entries(o.extraRoutes ?? {})) {
    routes.set(path, { methods: ['GET'], handler: async (_q, res) => sendJson(res, 200, await fn()) });
  }
  return routes;
}

function metricsRoutes(o: AdminServersOptions): Map<string, Route> {
  const routes = new Map<string, Route>();
  const registry = o.registry;
  const metrics: Route = {
    methods: ['GET'],
    handler: async (_q, res) => {
      if (!registry) return send(res, 200, '', 'text/plain; version=0.0.4; charset=utf-8');
      send(res, 200, await registry.metrics(), registry.contentType);
    },
  };
  routes.set('/metrics', metrics);
  routes.set('/stats/prometheus', metrics);
  return routes;
}

async function listen(name: string, server: Server, l: Listen, defaultHost: string): Promise<AddressInfo> {
  const host = l.host ?? defaultHost;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new AmbitError('AMBIT_E_CONFIG', `${name} server cannot listen on ${host}:${l.port}: ${err.message}`, {
          hint:
            err.code === 'EADDRINUSE'
              ? `port ${l.port} is in use; stop the other process or choose another port`
              : undefined,
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(l.port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startAdminServers(o: AdminServersOptions): Promise<AdminServers> {
  const log = o.log ?? createLogger('admin');
  const servers: Server[] = [];
  const out: { admin?: AddressInfo; metrics?: AddressInfo; ready?: AddressInfo } = {};
  const start = async (name: string, routes: Map<string, Route>, l: Listen, host: string): Promise<AddressInfo> => {
    const server = createServer(router(routes, log));
    server.keepAliveTimeout = 5_000;
    servers.push(server);
    return listen(name, server, l, host);
  };
  try {
    if (o.admin) out.admin = await start('admin', adminRoutes(o, log), o.admin, '127.0.0.1');
    const shared =
      o.metrics &&
      o.ready &&
      o.metrics.port !== 0 &&
      o.metrics.port === o.ready.port &&
      (o.metrics.host ?? '0.0.0.0') === (o.ready.host ?? '0.0.0.0');
    if (o.metrics) {
      const routes = metricsRoutes(o);
      if (shared) readinessRoutes(o, routes);
      out.metrics = await start('metrics', routes, o.metrics, '0.0.0.0');
      if (shared) out.ready = out.metrics;
    }
    if (o.ready && !shared) {
      out.ready = await start('readiness', readinessRoutes(o), o.ready, '0.0.0.0');
    }
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    throw err;
  }
  log.debug('admin servers listening', { admin: out.admin, metrics: out.metrics, ready: out.ready });
  let closing: Promise<void> | undefined;
  return {
    ...out,
    close: () => (closing ??= Promise.all(servers.map(closeServer)).then(() => undefined)),
  };
}
