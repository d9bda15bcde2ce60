// iperf3 as the bulk load generator for the TCP-fronted cases: C on both ends, so the figures
// measure the chain in between, not the generator.
import { spawn } from 'node:child_process';
import type { ChildGroup, Child } from '../common/children.js';
import { freePort, waitForPortOf } from '../common/net.js';

export interface IperfServer {
  readonly port: number;
  readonly child: Child;
}

export async function startIperfServer(group: ChildGroup): Promise<IperfServer> {
  const port = await freePort();
  const child = await group.start('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port)], { name: 'iperf3-server' });
  await waitForPortOf(child, port);
  return { port, child };
}

export interface IperfResult {
  readonly gbps: number;
  readonly bytes: number;
  readonly seconds: number;
  /** CPU seconds of the iperf3 client and server during the test (from their own rusage). */
  readonly endpointCpuSeconds: number;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bytes: number; seconds: number; bits_per_second: number };
    cpu_utilization_percent?: { host_total: number; remote_total: number };
  };
}

/** Client → port for `seconds`, `streams` parallel streams; the receiver's figures count. */
export function runIperfClient(port: number, streams: number, seconds: number): Promise<IperfResult> {
  return new Promise((resolve, reject) => {
    const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-P', String(streams), '-J'];
    const proc = spawn('iperf3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => out.push(b));
    const killer = setTimeout(() => proc.kill('SIGKILL'), (seconds + 20) * 1000);
    proc.on('error', reject);
    proc.on('close', () => {
      clearTimeout(killer);
      let json: IperfJson;
      try {
        json = JSON.parse(Buffer.concat(out).toString('utf8')) as IperfJson;
      } catch {
        reject(new Error(`iperf3: unreadable output: ${Buffer.concat(out).toString('utf8').slice(0, 300)}`));
        return;
      }
      const recv = json.end?.sum_received;
      if (json.error || !recv) {
        reject(new Error(`iperf3: ${json.error ?? 'no result'}`));
        return;
      }
      const cpu = json.end?.cpu_utilization_percent;
      resolve({
        gbps: recv.bits_per_second / 1e9,
        bytes: recv.bytes,
        seconds: recv.seconds,
        endpointCpuSeconds: cpu ? ((cpu.host_total + cpu.remote_total) / 100) * recv.seconds : 0,
      });
    });
  });
}
