// Profiling aid for one chain: a single bulk run with syscall counts (strace -c) of the chain's
// processes, or with the HBONE relays inside this process so that `node --cpu-prof` or
// `clinic flame` profile them. Figures under strace are slowed down; use run.js for numbers.
//   node dist/bench/hbone/profile.js --case hbone-1proc --strace
//   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/hbone/profile.js --inproc
//   npx clinic flame -- node dist/bench/hbone/profile.js --inproc
import { join } from 'node:path';
import { setDefaultHighWaterMark } from 'node:stream';
import { parseArgs } from 'node:util';
import { ChildGroup } from '../common/children.js';
import { CpuMeter } from '../common/cpu.js';
import { attachStrace } from '../common/strace.js';
import { helperScript, isCaseName, setupCase, type CaseSetup, type Targets } from './cases.js';
import { runIperfClient, startIperfServer } from './iperf.js';
import { measureRequestResponse } from './measure.js';
import { createBenchPki } from './pki.js';

async function main(): Promise<void> {
  const hwm = Number(process.env.AMBIT_BENCH_HWM);
  if (hwm > 0) setDefaultHighWaterMark(false, hwm);
  const { values } = parseArgs({
    options: {
      case: { type: 'string', default: 'hbone-1proc' },
      seconds: { type: 'string', default: '4' },
      streams: { type: 'string', default: '1' },
      rr: { type: 'boolean', default: false },
      strace: { type: 'boolean', default: false },
      inproc: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const streams = Number(values.streams);
  const group = new ChildGroup();
  const pki = await createBenchPki();
  try {
    const iperf = await startIperfServer(group);
    const target = await group.start(process.execPath, [helperScript('target'), pki.credentialsFile], {
      name: 'target',
      readyLine: /^READY /,
    });
    const ports = JSON.parse(target.readyMessage.slice(6)) as { echo: number; tlsEcho: number; tlsSink: number };
    const targets: Targets = { iperf: iperf.port, ...ports, targetPid: target.pid };
    let setup: Pick<CaseSetup, 'bulk' | 'echoPort' | 'chainPids' | 'stop'>;
    if (values.inproc) {
      const { startHboneClientRelays, startHboneServerRelay } = await import('./hbone-relays.js');
      const hbonePort = await startHboneServerRelay(pki.server);
      const entry = await startHboneClientRelays(pki.client, hbonePort, { bulk: iperf.port, echo: ports.echo });
      setup = {
        bulk: { via: 'iperf3', port: entry.bulk as number },
        echoPort: entry.echo as number,
        chainPids: [process.pid],
        stop: async () => {},
      };
    } else {
      if (!isCaseName(values.case) || values.case === 'node-tls' || values.case === 'direct-tcp') {
        throw new Error(`--case: one of node-relay, hbone-1proc, hbone-2proc, haproxy-chain`);
      }
      setup = await setupCase(values.case, { group, pki, targets, haproxyThreads: 1 });
    }
    await runIperfClient(setup.bulk.port, 1, 1); // warm up (JIT, pool)
    const straceOut = join(pki.dir, 'strace.txt');
    const strace = values.strace ? await attachStrace(setup.chainPids, straceOut) : undefined;
    if (values.rr) {
      // Request/response instead of bulk: latency and syscalls per round trip.
      const meter = new CpuMeter(setup.chainPids).start();
      const rr = await measureRequestResponse(group, { ...setup, name: 'direct-tcp', endpointsCount: false }, seconds);
      const cpu = meter.stop().total;
      process.stdout.write(
        `${values.inproc ? 'hbone in-process' : values.case}: rr p50 ${rr.p50.toFixed(0)} µs, p99 ${rr.p99.toFixed(0)} µs, ` +
          `${rr.count} round trips, chain CPU ${((cpu / rr.count) * 1e6).toFixed(0)} µs per round trip\n`,
      );
      if (strace) {
        const counts = await strace.stop();
        const total = counts.reduce((a, c) => a + c.calls, 0);
        process.stdout.write(`syscalls: ${(total / rr.count).toFixed(1)} per round trip\n`);
        for (const c of counts.slice(0, 10))
          process.stdout.write(`  ${c.name.padEnd(16)} ${(c.calls / rr.count).toFixed(2).padStart(8)}\n`);
      }
      await setup.stop();
      return;
    }
    const meter = new CpuMeter(setup.chainPids).start();
    const r = await runIperfClient(setup.bulk.port, streams, seconds);
    const cpu = meter.stop().total;
    process.stdout.write(
      `${values.inproc ? 'hbone in-process' : values.case}: ${r.gbps.toFixed(2)} Gbit/s, ${streams} stream(s), ` +
        `chain CPU ${(cpu / (r.bytes / 1e9)).toFixed(2)} s/GB\n`,
    );
    if (strace) {
      const counts = await strace.stop();
      const mb = r.bytes / 1e6;
      const total = counts.reduce((a, c) => a + c.calls, 0);
      process.stdout.write(
        `syscalls: ${(total / mb).toFixed(1)} per MB relayed (${total} in ${r.seconds.toFixed(1)} s)\n`,
      );
      for (const c of counts.slice(0, 12))
        process.stdout.write(`  ${c.name.padEnd(16)} ${(c.calls / mb).toFixed(2).padStart(8)} per MB\n`);
    }
    await setup.stop();
  } finally {
    await group.close();
    pki.remove();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`profile: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
