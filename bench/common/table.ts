// Plain-text tables of benchmark rows, with ratio tables against a baseline case (direct
// path) and a peer case (the native proxy doing the same job).
import type { ResultRow } from './results.js';

export interface TableOptions {
  readonly metrics: readonly string[];
  /** Case the "÷ baseline" table divides by, e.g. direct-tcp. */
  readonly baseline?: string;
  /** Case(s) the "÷ peer" tables divide by, e.g. haproxy-chain. */
  readonly peer?: string | readonly string[];
}

function formatNumber(v: number | string | undefined): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1000) return v.toFixed(0);
  if (abs >= 100) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function renderGrid(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function ratioTable(rows: readonly ResultRow[], metrics: readonly string[], ref: string): string | undefined {
  const base = rows.find((r) => r.case === ref);
  if (!base) return undefined;
  const body = rows.map((r) => [
    r.case,
    ...metrics.map((m) => {
      const a = r[m];
      const b = base[m];
      return typeof a === 'number' && typeof b === 'number' && b !== 0 ? formatNumber(a / b) : '-';
    }),
  ]);
  return `ratio to ${ref}:\n` + renderGrid(['case', ...metrics], body);
}

/** The values table, then one ratio table per reference case present in `rows`. */
export function formatTable(rows: readonly ResultRow[], opts: TableOptions): string {
  const body = rows.map((r) => [r.case, ...opts.metrics.map((m) => formatNumber(r[m]))]);
  const parts = [renderGrid(['case', ...opts.metrics], body)];
  for (const ref of [opts.baseline, ...(typeof opts.peer === 'string' ? [opts.peer] : (opts.peer ?? []))]) {
    if (!ref) continue;
    const t = ratioTable(rows, opts.metrics, ref);
    if (t) parts.push(t);
  }
  return parts.join('\n\n');
}
