// The waypoint bench's tools, each run inside a pod's netns with `ip netns exec`: nginx as the
// HTTP server and as the L7 reverse-proxy peer, wrk for the maximum rate, and the Node
// fixed-rate client (fixed-rate.ts) for latency at a fixed load. Every process is started
// through the ChildGroup, so it always stops.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Child, ChildGroup } from '../common/children.js';
import type { Pod } from '../common/cni-pods.js';

const loadHelper = join(dirname(fileURLToPath(import.meta.url)), 'fixed-rate.js');

export function inNetns(netns: string, cmd: string, args: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', netns, cmd, ...args]];
}

export function common(dir: string): string {
  return `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
`;
}

/** The HTTP server of every case: one worker, a 3-byte body. */
export function serverConfig(dir: string, port: number, extraServers = ''): string {
  return (
    common(dir) +
    `  server {
    listen ${port} backlog=4096;
    location / { return 200 "ok\\n"; }
  }
${extraServers}}
`
  );
}

/**
 * nginx as an L7 reverse proxy at its best configuration (CONTRACT.md): one worker, access log
 * off, keep-alive to the client and to the upstream (64 idle connections, 1e6 requests each).
 */
export function proxyConfig(dir: string, port: number, upstream: string): string {
  return (
    common(dir) +
    `  upstream backend {
    server ${upstream};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen ${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`
  );
}

export interface Nginx {
  readonly child: Child;
  readonly pids: () => number[];
}

/** nginx (master + its one worker) in `netns` with the given config text. */
export async function startNginx(
  group: ChildGroup,
  netns: string,
  dir: string,
  name: string,
  config: (dir: string) => string,
): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, config(dir));
  const child = await group.start(...inNetns(netns, 'nginx', ['-c', conf, '-g', 'daemon off;']), { name });
  // `ip netns exec` execs nginx in place: the child pid is the master; its worker does the work.
  const workers = (): number[] => {
    try {
      return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  };
  for (let i = 0; i < 50 && workers().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  if (workers().length === 0)
    throw new Error(`${name} in ${netns} did not start a worker: ${child.stderr.join(' | ')}`);
  return { child, pids: () => [child.pid, ...workers()] };
}

/** Exit code once the child has ended and all of its stdout lines have been read. */
async function finished(child: Child): Promise<number | string> {
  const code = await child.exited;
  const stdout = child.process.stdout;
  if (stdout && !stdout.closed) await new Promise((r) => stdout.once('close', r));
  await new Promise((r) => setImmediate(r));
  return code;
}

export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  readonly errors: string;
}

/** wrk -t1 with keep-alive connections; fails on no output, reports non-2xx / socket errors. */
export async function wrk(
  group: ChildGroup,
  pod: Pod,
  url: string,
  seconds: number,
  connections: number,
): Promise<WrkResult> {
  const child = await group.start(...inNetns(pod.netns, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url]), {
    name: 'wrk',
  });
  const code = await finished(child);
  const text = child.lines.join('\n');
  if (code !== 0) throw new Error(`wrk ${url} failed (${code}): ${child.stderr.join(' ')}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  if (!(rps > 0)) throw new Error(`wrk ${url}: no Requests/sec in output: ${text.slice(0, 300)}`);
  const errors = [...text.matchAll(/(Non-2xx.*|Socket errors.*)/g)].map((m) => (m[1] ?? '').trim()).join('; ');
  return { rps, requests, errors };
}

async function helperResult(
  group: ChildGroup,
  pod: Pod,
  spec: Record<string, unknown>,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const child = await group.start(...inNetns(pod.netns, process.execPath, [loadHelper, JSON.stringify(spec)]), {
    name: `load-${String(spec.mode)}`,
  });
  const exited = child.exited.then((code) => {
    throw new Error(`load helper exited (${code}): ${child.stderr.slice(-5).join(' | ')}`);
  });
  exited.catch(() => undefined);
  const line = await Promise.race([child.nextLine(/^RESULT /, timeoutMs), exited]);
  return JSON.parse(line.slice(7)) as Record<string, unknown>;
}

export interface ProbeResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export async function probe(group: ChildGroup, pod: Pod, url: string): Promise<ProbeResult> {
  return (await helperResult(group, pod, { mode: 'probe', url }, 15_000)) as unknown as ProbeResult;
}

export interface RateResult {
  readonly count: number;
  readonly errors: number;
  readonly lastError: string;
  readonly achieved_rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly answered: number;
}

export async function fixedRate(
  group: ChildGroup,
  pod: Pod,
  url: string,
  o: { rps: number; seconds: number; connections: number; warmupSeconds: number },
): Promise<RateResult> {
  const spec = {
    mode: 'rate',
    url,
    rps: o.rps,
    durationMs: o.seconds * 1000,
    connections: o.connections,
    warmupMs: o.warmupSeconds * 1000,
  };
  return (await helperResult(group, pod, spec, (o.seconds + o.warmupSeconds + 30) * 1000)) as unknown as RateResult;
}
