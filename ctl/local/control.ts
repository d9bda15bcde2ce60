// The control socket of a running `local up` (<state-dir>/control.sock, HTTP): what the
// chaos suite and `ambitctl local restart` use to act on the supervised processes.
//   GET  /units                          every unit: pid, state, restarts, last exit
//   POST /restart?unit=agent&surge=1     replace a unit's process (surge: new one ready first)
//   POST /pause?unit=controller          stop it and keep it stopped; POST /resume?unit=… starts it again
import { rm } from 'node:fs/promises';
import http from 'node:http';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Supervisor, UnitStatus } from './supervisor.js';

export const CONTROL_SOCKET = 'control.sock';

export interface ControlServer {
  close(): Promise<void>;
}

/** Extra operations `local up` offers besides the supervisor's (pod churn, node reboot, …). */
export type ControlOps = Record<string, (params: URLSearchParams) => Promise<unknown>>;

export async function serveControl(
  socket: string,
  supervisor: Supervisor,
  log: Logger,
  ops: ControlOps = {},
): Promise<ControlServer> {
  await rm(socket, { force: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    void (async () => {
      if (req.method === 'GET' && url.pathname === '/units') return answer(200, supervisor.list());
      if (req.method === 'POST' && url.pathname === '/restart') {
        const unit = url.searchParams.get('unit') ?? '';
        log.info('restart asked for', { unit, surge: url.searchParams.get('surge') === '1' });
        return answer(200, await supervisor.restart(unit, { surge: url.searchParams.get('surge') === '1' }));
      }
      const name = url.searchParams.get('unit') ?? '';
      if (req.method === 'POST' && url.pathname === '/pause') return answer(200, await supervisor.pause(name));
      if (req.method === 'POST' && url.pathname === '/resume') return answer(200, await supervisor.resume(name));
      const op = ops[url.pathname.slice(1)];
      if (req.method === 'POST' && op) return answer(200, (await op(url.searchParams)) ?? {});
      return answer(404, {
        error: `no ${req.method} ${url.pathname}`,
        paths: [
          'GET /units',
          'POST /restart?unit=…',
          'POST /pause?unit=…',
          'POST /resume?unit=…',
          ...Object.keys(ops).map((k) => `POST /${k}`),
        ],
      });
    })().catch((err: unknown) => answer(500, { error: describeError(err) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(socket, { force: true });
    },
  };
}

/** A request to a running mesh's control socket. */
export async function controlRequest<T = unknown>(
  socket: string,
  method: 'GET' | 'POST',
  pathAndQuery: string,
  timeoutMs = 120_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: pathAndQuery, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        if ((res.statusCode ?? 500) >= 400)
          reject(new Error(`${method} ${pathAndQuery}: HTTP ${res.statusCode}: ${JSON.stringify(body)}`));
        else resolve(body as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathAndQuery}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export type { UnitStatus };
