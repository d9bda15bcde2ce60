import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianRow, percentile, spreadText, summarize } from './stats.js';
import { buildResults, machineDescription, writeResults } from './results.js';
import { formatTable } from './table.js';
import { CpuMeter, cpuSecondsOfPid, rssMbOfPid } from './cpu.js';
import { ChildGroup } from './children.js';

describe('stats', () => {
  it('summarises rounds as median with min and max per metric', () => {
    const row = medianRow([
      { case: 'a', rps: 30, p99: 2 },
      { case: 'a', rps: 10, p99: 9 },
      { case: 'a', rps: 20, p99: 4 },
    ]);
    expect(row).toEqual({ case: 'a', rps: 20, rps_min: 10, rps_max: 30, p99: 4, p99_min: 2, p99_max: 9 });
    expect(spreadText(row, 'rps')).toBe('20 (10–30)');
    expect(medianRow([{ case: 'b', x: 1 }])).toEqual({ case: 'b', x: 1 });
  });
  it('takes nearest-rank percentiles of unsorted samples', () => {
    const s = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(s, 50)).toBe(5);
    expect(percentile(s, 99)).toBe(10);
    expect(percentile(s, 0)).toBe(1);
    expect(s[0]).toBe(5); // input untouched
    expect(summarize(s)).toMatchObject({ count: 10, min: 1, max: 10, p50: 5, mean: 5.5 });
  });
  it('refuses empty samples', () => {
    expect(() => percentile([], 50)).toThrow(/no samples/);
  });
});

describe('results', () => {
  it('writes the CONTRACT shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-'));
    try {
      const res = buildResults('hbone', [{ case: 'direct-tcp', gbps_1: 10.5 }], new Date('2026-01-01T00:00:00Z'));
      const path = writeResults(res, dir);
      const back = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      expect(Object.keys(back)).toEqual(['bench', 'machine', 'date', 'rows']);
      expect(back.date).toBe('2026-01-01T00:00:00.000Z');
      expect(back.machine).toMatch(/^\d+ x .+/);
      expect(back.rows).toEqual([{ case: 'direct-tcp', gbps_1: 10.5 }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('refuses non-finite metrics', () => {
    expect(() => buildResults('hbone', [{ case: 'x', gbps_1: Number.NaN }])).toThrow(/x: metric gbps_1/);
    expect(machineDescription()).toContain(' x ');
  });
});

describe('table', () => {
  it('prints values and ratios to the baseline and the peer', () => {
    const out = formatTable(
      [
        { case: 'direct', gbps: 10 },
        { case: 'mine', gbps: 4 },
        { case: 'peer', gbps: 2 },
      ],
      { metrics: ['gbps'], baseline: 'direct', peer: 'peer' },
    );
    expect(out).toContain('ratio to direct:');
    expect(out).toMatch(/mine\s+0\.400/);
    expect(out).toContain('ratio to peer:');
    expect(out).toMatch(/mine\s+2\.00/);
  });
});

describe('cpu and children', () => {
  it('measures CPU of a busy child and stops it', async () => {
    const group = new ChildGroup();
    try {
      // The child spins until it has used 0.4 s of CPU (not wall time: the machine may be busy).
      const spin =
        'console.log("ready"); const c0=process.cpuUsage(); ' +
        'while(true){const c=process.cpuUsage(c0); if(c.user+c.system>=400000) break;} console.log("done"); setInterval(()=>{},1000)';
      const child = await group.start(process.execPath, ['-e', spin], { name: 'busy', readyLine: /^ready$/ });
      const meter = new CpuMeter([child.pid, 'self']).start();
      await child.nextLine(/^done$/, 30_000);
      const { total, perProcess } = meter.stop();
      expect(perProcess.get(child.pid)).toBeGreaterThan(0.2);
      expect(total).toBeGreaterThanOrEqual(perProcess.get(child.pid) ?? 0);
      expect(cpuSecondsOfPid(child.pid)).toBeGreaterThan(0);
      expect(rssMbOfPid(child.pid)).toBeGreaterThan(1);
      await group.stop(child);
      expect(child.process.signalCode ?? child.process.exitCode).not.toBeNull();
    } finally {
      await group.close();
    }
  });
});
