// The dashboard's HTTP server on 127.0.0.1: the page and its assets (cytoscape served from
// node_modules: the page works offline), `GET /api/graph`, `GET /api/events` (server-sent
// events: the graph after every scrape) and `GET /api/details?id=`. One loop scrapes the
// mesh every interval into a ring buffer long enough for the largest window (15 minutes).
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AmbitError, describeError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import { PACKAGE_ROOT } from '../local/paths.js';
import { details } from './details.js';
import { computeGraph, filterGraph, type Graph } from './graph.js';
import { NO_MESH, pollLocalMesh, prometheusDeltas, type MeshView } from './sources.js';
import { ScrapeRing, type Deltas } from './window.js';

export const DEFAULT_PORT = 20001;
export const WINDOWS: Readonly<Record<string, number>> = { '1m': 60, '5m': 300, '15m': 900 };

export interface DashboardOptions {
  readonly port?: number;
  readonly stateDir: string;
  readonly prometheus?: string;
  readonly intervalMs?: number;
  readonly log?: Logger;
}

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

export interface GraphAnswer extends Graph {
  readonly namespaces: string[];
  readonly source: 'local' | 'prometheus';
  readonly configVersion: string;
  readonly problems: string[];
  readonly at: string;
}

const ASSETS = path.join(PACKAGE_ROOT, 'ctl', 'dashboard', 'assets');
const STATIC: Readonly<Record<string, { file: () => string; type: string }>> = {
  '/': { file: () => path.join(ASSETS, 'index.html'), type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: () => path.join(ASSETS, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/style.css': { file: () => path.join(ASSETS, 'style.css'), type: 'text/css; charset=utf-8' },
  '/assets/cytoscape.min.js': {
    file: () => createRequire(import.meta.url).resolve('cytoscape/dist/cytoscape.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

export function parseWindow(v: string | null): number {
  if (v === null || v === '') return WINDOWS['5m']!;
  const named = WINDOWS[v];
  if (named) return named;
  const n = Number(v);
  if (Number.isInteger(n) && n >= 5 && n <= 900) return n;
  throw new AmbitError('AMBIT_E_CONFIG', `window "${v}": one of 1m, 5m, 15m (or seconds, 5..900)`);
}

const parseNamespaces = (v: string | null): string[] =>
  v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const log = o.log ?? createLogger('ambitctl-dashboard');
  const intervalMs = o.intervalMs ?? 2000;
  const ring = new ScrapeRing(Math.ceil((WINDOWS['15m']! * 1000) / intervalMs) + 2);
  let view: MeshView = NO_MESH;
  let tickGraphs = new Map<number, Promise<Graph>>();
  const clients = new Set<{ res: http.ServerResponse; window: number; namespaces: string[] }>();

  const deltas = async (seconds: number): Promise<Deltas> =>
    o.prometheus ? prometheusDeltas(o.prometheus, seconds) : ring.deltas(seconds);
  const graphFor = (seconds: number): Promise<Graph> => {
    let g = tickGraphs.get(seconds);
    if (!g) {
      g = deltas(seconds).then((d) => computeGraph(d, view.topology));
      tickGraphs.set(seconds, g);
    }
    return g;
  };
  const answer = async (seconds: number, namespaces: string[]): Promise<GraphAnswer> => {
    const problems = [...view.problems];
    const full = await graphFor(seconds).catch((err: unknown) => {
      problems.push(describeError(err));
      return computeGraph({ seconds: 0, samples: new Map() }, view.topology);
    });
    return {
      ...filterGraph(full, namespaces),
      namespaces: full.nodes
        .filter((n) => n.type === 'namespace')
        .map((n) => n.label)
        .sort(),
      source: o.prometheus ? 'prometheus' : 'local',
      configVersion: view.configVersion,
      problems,
      at: new Date().toISOString(),
    };
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      view = await pollLocalMesh(o.stateDir, !o.prometheus);
      // With Prometheus, a local mesh only adds the skeleton and the details: no mesh is no problem.
      if (o.prometheus && !view.record) view = { ...view, problems: [] };
      if (view.samples) ring.push({ at: Date.now(), samples: view.samples });
      tickGraphs = new Map();
      for (const c of clients) {
        const g = await answer(c.window, c.namespaces);
        c.res.write(`event: graph\ndata: ${JSON.stringify(g)}\n\n`);
      }
    } catch (err) {
      log.warn('dashboard tick failed', { err: describeError(err) });
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      try {
        if (req.method !== 'GET') {
          res.writeHead(405, { allow: 'GET' }).end();
          return;
        }
        if (url.pathname === '/favicon.ico') {
          res.writeHead(204).end();
          return;
        }
        const asset = STATIC[url.pathname];
        if (asset) {
          res
            .writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' })
            .end(await readFile(asset.file()));
          return;
        }
        if (url.pathname === '/api/graph') {
          const g = await answer(
            parseWindow(url.searchParams.get('window')),
            parseNamespaces(url.searchParams.get('namespace')),
          );
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(g));
          return;
        }
        if (url.pathname === '/api/events') {
          const client = {
            res,
            window: parseWindow(url.searchParams.get('window')),
            namespaces: parseNamespaces(url.searchParams.get('namespace')),
          };
          res.writeHead(200, {
            'content-type': 'text/event-stream',
            'cache-control': 'no-cache',
            connection: 'keep-alive',
          });
          res.write(
            `retry: 2000\nevent: graph\ndata: ${JSON.stringify(await answer(client.window, client.namespaces))}\n\n`,
          );
          clients.add(client);
          req.on('close', () => clients.delete(client));
          return;
        }
        if (url.pathname === '/api/details') {
          const id = url.searchParams.get('id');
          if (!id) throw new AmbitError('AMBIT_E_CONFIG', 'details: the query parameter id is required');
          const d = await details(id, {
            agentDump: view.agentDump,
            waypointDumps: view.waypointDumps,
            ...(view.record ? { configDir: view.record.configDir } : {}),
          });
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ...d, configVersion: view.configVersion }));
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url.pathname}\n`);
      } catch (err) {
        const status = err instanceof AmbitError && err.code === 'AMBIT_E_CONFIG' ? 400 : 500;
        if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: describeError(err) }));
      }
    })();
  });

  await tick();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? DEFAULT_PORT, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    stopped = true;
    clearTimeout(timer);
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `dashboard: cannot listen on 127.0.0.1:${o.port ?? DEFAULT_PORT}: ${(err as Error).message}`,
      inUse ? { hint: 'another dashboard runs there? pass --port N' } : {},
    );
  }
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/`;
  log.info('dashboard listening', { url, source: o.prometheus ?? o.stateDir });
  return {
    url,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      for (const c of clients) c.res.end();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
