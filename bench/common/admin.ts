import type { ConfigDump } from '../../core/admin/dump.js';
// Reading an agent's or waypoint's admin endpoint from a bench.

export async function adminGet(port: number, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return res.json();
}

/** Waits (10 s at most) until the admin's /config_dump reports `version`. */
export async function waitForVersion(adminPort: number, version: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const dump = (await adminGet(adminPort, '/config_dump').catch(() => undefined)) as Partial<ConfigDump> | undefined;
    if (dump?.version === version) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`config ${version} was not applied within 10 s`);
}

export interface HeapStats {
  /** MiB; NaN when the metrics did not have it. */
  usedMb: number;
  totalMb: number;
  externalMb: number;
}

/** V8 heap used and total and external memory from a component's process metrics (`/metrics` URL). */
export async function heapStats(metricsUrl: string): Promise<HeapStats> {
  const text = await (await fetch(metricsUrl)).text();
  const mb = (name: string): number => {
    const m = new RegExp(`^(?:ambit_process_)?${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) / 1048576 : NaN;
  };
  return {
    usedMb: mb('nodejs_heap_size_used_bytes'),
    totalMb: mb('nodejs_heap_size_total_bytes'),
    externalMb: mb('nodejs_external_memory_bytes'),
  };
}

export function heapStatsText(h: HeapStats): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '?');
  return `V8 heap used ${f(h.usedMb)} MiB of ${f(h.totalMb)}, external ${f(h.externalMb)} MiB`;
}

/** V8 heap used and external memory from a component's process metrics: JS objects vs native buffers. */
export async function heapLine(metricsPort: number): Promise<string> {
  return heapStatsText(await heapStats(`http://127.0.0.1:${metricsPort}/metrics`));
}
