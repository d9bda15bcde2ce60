// The controller's plain-HTTP endpoints: Prometheus metrics (15014, /metrics) and readiness
// (15021, /healthz/ready: 200 once the first configuration is being served, else 503).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HttpEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(server: http.Server, host: string, port: number): Promise<HttpEndpoint> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function startMetricsServer(registry: Registry, host: string, port: number): Promise<HttpEndpoint> {
  return listen(
    http.createServer((req, res) => {
      if (req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType }).end(text);
        },
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    }),
    host,
    port,
  );
}

export function startReadyServer(
  ready: () => { ready: boolean; detail: unknown },
  host: string,
  port: number,
): Promise<HttpEndpoint> {
  return listen(
    http.createServer((req, res) => {
      const path = req.url?.split('?')[0];
      if (path !== '/healthz/ready' && path !== '/ready') {
        res.writeHead(404).end('not found\n');
        return;
      }
      const state = ready();
      res
        .writeHead(state.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(state.detail) + '\n');
    }),
    host,
    port,
  );
}
