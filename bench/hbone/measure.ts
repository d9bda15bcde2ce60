// One case's measurements: bulk (1 and 8 streams) with the chain's CPU, request/response
// latency, and new tunnels per second. Each test runs in a fresh generator process.
import type { ChildGroup } from '../common/children.js';
import { CpuMeter } from '../common/cpu.js';
import { runIperfClient } from './iperf.js';
import { helperScript, type CaseSetup } from './cases.js';

export interface BulkFigure {
  readonly gbps: number;
  readonly bytes: number;
  readonly cpuSeconds: number;
}

async function loadgen(
  group: ChildGroup,
  spec: Record<string, unknown>,
  timeoutMs: number,
): Promise<Record<string, number>> {
  const child = await group.start(process.execPath, [helperScript('loadgen'), JSON.stringify(spec)], {
    name: `loadgen-${String(spec.mode)}`,
  });
  const line = await child.nextLine(/^RESULT /, timeoutMs);
  await child.exited;
  return JSON.parse(line.slice('RESULT '.length)) as Record<string, number>;
}

const num = (r: Record<string, number>, k: string): number => {
  const v = r[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`loadgen result has no ${k}: ${JSON.stringify(r)}`);
  return v;
};

export async function measureBulk(
  group: ChildGroup,
  c: CaseSetup,
  streams: number,
  seconds: number,
): Promise<BulkFigure> {
  const meter = new CpuMeter(c.chainPids).start();
  if (c.bulk.via === 'iperf3') {
    const r = await runIperfClient(c.bulk.port, streams, seconds);
    const chainCpu = meter.stop().total;
    return { gbps: r.gbps, bytes: r.bytes, cpuSeconds: chainCpu + (c.endpointsCount ? r.endpointCpuSeconds : 0) };
  }
  const r = await loadgen(
    group,
    { mode: 'bulk', port: c.bulk.port, tls: c.tls, durationMs: seconds * 1000, streams },
    (seconds + 30) * 1000,
  );
  const chainCpu = meter.stop().total;
  return {
    gbps: num(r, 'gbps'),
    bytes: num(r, 'bytes'),
    cpuSeconds: chainCpu + (c.endpointsCount ? num(r, 'cpu_s') : 0),
  };
}

export async function measureRequestResponse(
  group: ChildGroup,
  c: CaseSetup,
  seconds: number,
): Promise<{ p50: number; p99: number; count: number }> {
  const r = await loadgen(
    group,
    { mode: 'rr', port: c.echoPort, tls: c.tls, durationMs: seconds * 1000, size: 100 },
    (seconds + 30) * 1000,
  );
  return { p50: num(r, 'p50_us'), p99: num(r, 'p99_us'), count: num(r, 'count') };
}

export async function measureConnectRate(
  group: ChildGroup,
  c: CaseSetup,
  seconds: number,
  concurrency: number,
): Promise<{ perSecond: number; errors: number }> {
  const r = await loadgen(
    group,
    { mode: 'connect', port: c.echoPort, tls: c.tls, durationMs: seconds * 1000, concurrency },
    (seconds + 30) * 1000,
  );
  return { perSecond: num(r, 'per_s'), errors: num(r, 'errors') };
}
