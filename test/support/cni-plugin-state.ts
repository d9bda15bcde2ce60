// A network namespace's packet-filter and routing state as a value to compare: per table and
// chain, the chain's policy and the sorted list of its rules (duplicates kept); `ip rule` and
// routes as sorted lines. Listing order and empty built-in chains/tables are not state: a
// fresh machine's iptables-save lists an empty `mangle` table once anything touched it (the
// nf_tables backend creates tables on first use), a machine that ran tests before may not.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ChainState {
  policy: string;
  rules: string[];
}
/** table → chain → state */
export type FilterState = Record<string, Record<string, ChainState>>;

export interface NetnsState {
  v4: FilterState;
  v6: FilterState;
  rules4: string[];
  rules6: string[];
  routes4: string[];
  routes6: string[];
}

/** Parses `iptables-save` / `ip6tables-save` text; counters, comments and empty built-in chains dropped. */
export function parseIptablesSave(text: string): FilterState {
  const out: FilterState = {};
  let table: Record<string, ChainState> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = out[line.slice(1)] ??= {};
      continue;
    }
    if (!table) throw new Error(`iptables-save: a line outside a table: ${line}`);
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      table[name!] ??= { policy: policy!, rules: [] };
      continue;
    }
    const m = /^-A\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`iptables-save: unexpected line: ${line}`);
    (table[m[1]!] ??= { policy: '-', rules: [] }).rules.push(m[2]!);
  }
  for (const [name, chains] of Object.entries(out)) {
    for (const [chain, s] of Object.entries(chains)) {
      s.rules.sort();
      // Built-in chains carry a policy; an empty one at ACCEPT is the kernel's default.
      if (s.rules.length === 0 && s.policy === 'ACCEPT') delete chains[chain];
    }
    if (Object.keys(chains).length === 0) delete out[name];
  }
  return out;
}

/**
 * Whether the nat table sends UDP and TCP to port 53 somewhere else (REDIRECT or DNAT), on
 * any path from OUTPUT: what "DNS is captured" means, whatever the chains are called.
 */
export function redirectsPort53(state: FilterState): { udp: boolean; tcp: boolean } {
  const nat = state.nat ?? {};
  const reaches = (chain: string, protocol: 'udp' | 'tcp', seen = new Set<string>()): boolean => {
    if (seen.has(chain)) return false;
    seen.add(chain);
    for (const rule of nat[chain]?.rules ?? []) {
      const proto = /(?:^|\s)-p (\w+)/.exec(rule)?.[1];
      if (proto && proto !== protocol) continue;
      const port = /--dport (\d+)/.exec(rule)?.[1];
      if (port && port !== '53') continue;
      const target = /-j (\S+)/.exec(rule)?.[1] ?? '';
      if ((target === 'REDIRECT' || target === 'DNAT') && port === '53') return true;
      if (nat[target] && reaches(target, protocol, seen)) return true;
    }
    return false;
  };
  return { udp: reaches('OUTPUT', 'udp'), tcp: reaches('OUTPUT', 'tcp') };
}

const lines = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter(Boolean)
    .sort();

async function inNetns(netns: string, cmd: string, ...args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', netns, cmd, ...args])).stdout;
}

export async function filterState(netns: string, family: 4 | 6 = 4): Promise<FilterState> {
  return parseIptablesSave(await inNetns(netns, family === 4 ? 'iptables-save' : 'ip6tables-save'));
}

export async function netnsState(netns: string): Promise<NetnsState> {
  return {
    v4: await filterState(netns, 4),
    v6: await filterState(netns, 6),
    rules4: lines(await inNetns(netns, 'ip', 'rule', 'show')),
    rules6: lines(await inNetns(netns, 'ip', '-6', 'rule', 'show')),
    routes4: lines(await inNetns(netns, 'ip', 'route', 'show', 'table', 'all')),
    routes6: lines(await inNetns(netns, 'ip', '-6', 'route', 'show', 'table', 'all')),
  };
}
