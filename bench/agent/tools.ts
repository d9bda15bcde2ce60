// The traffic tools of the agent bench, each run inside a pod's netns with `ip netns exec`:
// iperf3 (bulk), wrk (HTTP), nginx (the HTTP server), and the Node helper (echo, request/
// response, new connections). Servers are started through the ChildGroup so they always stop.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Child, ChildGroup } from '../common/children.js';
import type { Pod } from '../common/cni-pods.js';

const helper = join(dirname(fileURLToPath(import.meta.url)), 'netns-helper.js');

export const PORTS = { iperf: 5201, echo: 7000, http: 80 } as const;

function inNetns(pod: Pod, cmd: string, args: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', pod.netns, cmd, ...args]];
}

/** nginx as CONTRACT.md runs it: one worker, access log off, keepalive without a request cap. */
export function nginxConfig(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen ${PORTS.http} backlog=4096;
    location / { return 200 "ok\\n"; }
  }
}
`,
  );
  return conf;
}

export interface PodServers {
  readonly pids: () => number[];
  readonly children: Child[];
}

/** iperf3 -s, the echo helper and nginx in the server pod. */
export async function startServers(group: ChildGroup, pod: Pod, dir: string): Promise<PodServers> {
  const conf = nginxConfig(join(dir, `nginx-${pod.name}`));
  const children = [
    await group.start(...inNetns(pod, 'iperf3', ['-s', '--forceflush', '-p', String(PORTS.iperf)]), {
      name: `iperf3-${pod.name}`,
      readyLine: /Server listening/,
    }),
    await group.start(...inNetns(pod, process.execPath, [helper, JSON.stringify({ mode: 'echo', port: PORTS.echo })]), {
      name: `echo-${pod.name}`,
      readyLine: /^READY /,
    }),
  ];
  const nginx = await group.start(...inNetns(pod, 'nginx', ['-c', conf, '-g', 'daemon off;']), {
    name: `nginx-${pod.name}`,
  });
  children.push(nginx);
  // `ip netns exec` execs nginx in place: the child pid is the master; its worker does the work.
  const workers = (): number[] => {
    try {
      return readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8')
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
    throw new Error(`nginx in ${pod.netns} did not start a worker: ${nginx.stderr.join(' | ')}`);
  return { children, pids: () => [nginx.pid, ...workers()] };
}

async function resultOf(
  group: ChildGroup,
  pod: Pod,
  cmd: string,
  args: string[],
  re: RegExp,
  timeoutMs: number,
  name: string,
): Promise<string> {
  const child = await group.start(...inNetns(pod, cmd, args), { name });
  const exited = child.exited.then((code) => {
    throw new Error(`${name} exited (${code}): ${child.stderr.slice(-5).join(' | ')}`);
  });
  exited.catch(() => undefined);
  return Promise.race([child.nextLine(re, timeoutMs), exited]);
}

/** Exit code once the child has ended and all of its stdout lines have been read. */
async function finished(child: Child): Promise<number | string> {
  const code = await child.exited;
  const stdout = child.process.stdout;
  if (stdout && !stdout.closed) await new Promise((r) => stdout.once('close', r));
  await new Promise((r) => setImmediate(r));
  return code;
}

export async function iperf(
  group: ChildGroup,
  pod: Pod,
  host: string,
  seconds: number,
): Promise<{ gbps: number; bytes: number }> {
  const child = await group.start(
    ...inNetns(pod, 'iperf3', ['-c', host, '-p', String(PORTS.iperf), '-t', String(seconds), '-J']),
    { name: 'iperf3-client' },
  );
  const code = await finished(child);
  const text = child.lines.join('\n');
  if (code !== 0)
    throw new Error(`iperf3 to ${host} failed (${code}): ${text.slice(0, 300)} ${child.stderr.join(' ')}`);
  const json = JSON.parse(text) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
  return { gbps: json.end.sum_received.bits_per_second / 1e9, bytes: json.end.sum_received.bytes };
}

export async function requestResponse(
  group: ChildGroup,
  pod: Pod,
  host: string,
  seconds: number,
): Promise<{ p50: number; p99: number; count: number }> {
  const line = await resultOf(
    group,
    pod,
    process.execPath,
    [helper, JSON.stringify({ mode: 'rr', host, port: PORTS.echo, durationMs: seconds * 1000 })],
    /^RESULT /,
    (seconds + 30) * 1000,
    'rr',
  );
  const r = JSON.parse(line.slice(7)) as { p50_us: number; p99_us: number; count: number };
  return { p50: r.p50_us, p99: r.p99_us, count: r.count };
}

export async function connectRate(
  group: ChildGroup,
  pod: Pod,
  host: string,
  seconds: number,
  concurrency: number,
): Promise<{ perSecond: number; errors: number; lastError: string }> {
  const line = await resultOf(
    group,
    pod,
    process.execPath,
    [helper, JSON.stringify({ mode: 'connect', host, port: PORTS.echo, durationMs: seconds * 1000, concurrency })],
    /^RESULT /,
    (seconds + 30) * 1000,
    'connect',
  );
  const r = JSON.parse(line.slice(7)) as { per_s: number; errors: number; lastError: string };
  return { perSecond: r.per_s, errors: r.errors, lastError: r.lastError };
}

/** wrk with keep-alive connections; requests per second (non-2xx responses make it fail). */
export async function wrk(
  group: ChildGroup,
  pod: Pod,
  host: string,
  seconds: number,
  connections: number,
): Promise<{ rps: number; requests: number }> {
  const child = await group.start(
    ...inNetns(pod, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://${host}:${PORTS.http}/`]),
    { name: 'wrk' },
  );
  const code = await finished(child);
  const text = child.lines.join('\n');
  if (code !== 0) throw new Error(`wrk to ${host} failed (${code}): ${child.stderr.join(' ')}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  if (/Non-2xx|Socket errors/.test(text))
    process.stderr.write(
      `agent bench: wrk to ${host}: ${(/(Non-2xx.*|Socket errors.*)/.exec(text)?.[1] ?? '').trim()}\n`,
    );
  if (!(rps > 0)) throw new Error(`wrk to ${host}: no Requests/sec in output: ${text.slice(0, 300)}`);
  return { rps, requests };
}
